// Queries of the api_keys table: create (the secret is returned once and only its hash is kept), find, update a
// key's limits and storage policy, revoke.
import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type ApiKeyRow, apiKeys } from "./schema.ts";

export type ApiKeyRole = ApiKeyRow["role"];

/** Hex sha256 of a secret, the only form in which keys are stored. */
export function hashApiKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** A key's own limit per minute: a number, "none" for no limit, or "default" for its role's. */
export type KeyLimitSetting = number | "none" | "default";

/** What a key may be given beyond its name and role; what is left out is its role's default. */
export type ApiKeyPolicy = {
  requestsPerMinute?: KeyLimitSetting;
  tokensPerMinute?: KeyLimitSetting;
  /** Whether the key's conversations are stored. Default: true */
  storeText?: boolean;
};

// The columns hold null for the role's default and 0 for no limit.
const limitColumn = (setting: KeyLimitSetting): number | null =>
  setting === "default" ? null : setting === "none" ? 0 : setting;

/** The limit a column holds, as a setting. */
export function keyLimitSetting(column: number | null): KeyLimitSetting {
  return column === null ? "default" : column === 0 ? "none" : column;
}

/** The key's own limits, null for no limit; a limit it leaves to its role is absent. */
export function ownKeyLimits(key: ApiKeyRow): {
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
} {
  const limits: { requestsPerMinute?: number | null; tokensPerMinute?: number | null } = {};
  if (key.rpmLimit !== null) limits.requestsPerMinute = key.rpmLimit === 0 ? null : key.rpmLimit;
  if (key.tpmLimit !== null) limits.tokensPerMinute = key.tpmLimit === 0 ? null : key.tpmLimit;
  return limits;
}

function policyColumns(
  policy: ApiKeyPolicy,
): Partial<Pick<ApiKeyRow, "rpmLimit" | "tpmLimit" | "storeText">> {
  return {
    ...(policy.requestsPerMinute === undefined ? {} : { rpmLimit: limitColumn(policy.requestsPerMinute) }),
    ...(policy.tokensPerMinute === undefined ? {} : { tpmLimit: limitColumn(policy.tokensPerMinute) }),
    ...(policy.storeText === undefined ? {} : { storeText: policy.storeText }),
  };
}

/** Creates a key and returns its row with the secret, which is never stored or shown again. */
export async function createApiKey(
  db: Database,
  input: { name: string; role: ApiKeyRole } & ApiKeyPolicy,
): Promise<{ key: ApiKeyRow; secret: string }> {
  const secret = `mg-${randomBytes(24).toString("base64url")}`;
  const [key] = await db
    .insert(apiKeys)
    .values({
      name: input.name,
      role: input.role,
      keyHash: hashApiKey(secret),
      keyPrefix: secret.slice(0, 8),
      ...policyColumns(input),
    })
    .returning();
  return { key: key!, secret };
}

/**
 * Changes an active key's limits or storage policy, by id or by its shown prefix; returns the changed row, or
 * undefined when none matched. Gateways see the change within their key cache's lifetime.
 */
export async function updateApiKey(
  db: Database,
  idOrPrefix: string,
  policy: ApiKeyPolicy,
): Promise<ApiKeyRow | undefined> {
  const columns = policyColumns(policy);
  if (Object.keys(columns).length === 0) {
    const [key] = await db.select().from(apiKeys).where(activeKeyNamed(idOrPrefix));
    return key;
  }
  const [key] = await db.update(apiKeys).set(columns).where(activeKeyNamed(idOrPrefix)).returning();
  return key;
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
  const [key] = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(activeKeyNamed(idOrPrefix))
    .returning();
  return key;
}

/** The unrevoked key with this id, or with this shown prefix. */
function activeKeyNamed(idOrPrefix: string) {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu.test(idOrPrefix);
  return and(
    isUuid ? eq(apiKeys.id, idOrPrefix) : eq(apiKeys.keyPrefix, idOrPrefix),
    isNull(apiKeys.revokedAt),
  );
}
