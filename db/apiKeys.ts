// Queries of the api_keys table: create (the secret is returned once and only its hash is kept), find, revoke.
import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type ApiKeyRow, apiKeys } from "./schema.ts";

export type ApiKeyRole = ApiKeyRow["role"];

/** Hex sha256 of a secret, the only form in which keys are stored. */
export function hashApiKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Creates a key and returns its row with the secret, which is never stored or shown again. */
export async function createApiKey(
  db: Database,
  input: { name: string; role: ApiKeyRole },
): Promise<{ key: ApiKeyRow; secret: string }> {
  const secret = `mg-${randomBytes(24).toString("base64url")}`;
  const [key] = await db
    .insert(apiKeys)
    .values({
      name: input.name,
      role: input.role,
      keyHash: hashApiKey(secret),
      keyPrefix: secret.slice(0, 8),
    })
    .returning();
  return { key: key!, secret };
}

/** The unrevoked key with this secret, if any. */
export async function findActiveApiKey(db: Database, secret: string): Promise<ApiKeyRow | undefined> {
  const [key] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashApiKey(secret)), isNull(apiKeys.revokedAt)));
  return key;
}

export async function listApiKeys(db: Database): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt));
}

/** Revokes a key by id or by its shown prefix; returns the revoked row, or undefined when none matched. */
export async function revokeApiKey(db: Database, idOrPrefix: string): Promise<ApiKeyRow | undefined> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu.test(idOrPrefix);
  const [key] = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(
      and(isUuid ? eq(apiKeys.id, idOrPrefix) : eq(apiKeys.keyPrefix, idOrPrefix), isNull(apiKeys.revokedAt)),
    )
    .returning();
  return key;
}
