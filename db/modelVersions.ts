// Queries of the model registry: register versions, find a name's champion, list a name's lineage.
import { and, asc, desc, eq, ne, sql } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type ModelVersionRow, modelVersions } from "./schema.ts";

export type NewModelVersion = Omit<typeof modelVersions.$inferInsert, "version" | "id" | "createdAt">;

/**
 * Registers a version under the next free number of its name. Concurrent registrations of one name
 * retry on the (name, version) unique index.
 */
export async function registerModelVersion(db: Database, row: NewModelVersion): Promise<ModelVersionRow> {
  for (let attempt = 0; ; attempt++) {
    const [{ next }] = (await db
      .select({ next: sql<number>`coalesce(max(${modelVersions.version}), 0) + 1` })
      .from(modelVersions)
      .where(eq(modelVersions.name, row.name))) as [{ next: number }];
    try {
      const [inserted] = await db
        .insert(modelVersions)
        .values({ ...row, version: Number(next) })
        .returning();
      return inserted!;
    } catch (error) {
      if (attempt < 5 && isUniqueViolation(error, "model_versions_name_version_idx")) continue;
      throw error;
    }
  }
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  // drizzle wraps driver errors; the PostgreSQL error is the cause.
  for (let current: unknown = error; current; current = (current as { cause?: unknown }).cause) {
    const {
      code,
      constraint: name,
      message,
    } = current as { code?: string; constraint?: string; message?: string };
    if (code === "23505")
      return constraint === undefined || name === constraint || !!message?.includes(constraint);
  }
  return false;
}

export async function findModelVersion(db: Database, id: string): Promise<ModelVersionRow | undefined> {
  const [row] = await db.select().from(modelVersions).where(eq(modelVersions.id, id));
  return row;
}

/** A version by its id, `NAME@vN`, or `NAME` (that name's champion). */
export async function findModelVersionByRef(db: Database, ref: string): Promise<ModelVersionRow | undefined> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu.test(ref))
    return findModelVersion(db, ref);
  const numbered = /^(.+)@v(\d+)$/u.exec(ref);
  if (numbered) {
    const [row] = await db
      .select()
      .from(modelVersions)
      .where(and(eq(modelVersions.name, numbered[1]!), eq(modelVersions.version, Number(numbered[2]))));
    return row;
  }
  return findChampion(db, ref);
}

export async function findChampion(db: Database, name: string): Promise<ModelVersionRow | undefined> {
  const [row] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.name, name), eq(modelVersions.status, "champion")));
  return row;
}

export async function findVersionOfRound(
  db: Database,
  roundId: string,
): Promise<ModelVersionRow | undefined> {
  const [row] = await db.select().from(modelVersions).where(eq(modelVersions.roundId, roundId));
  return row;
}

/** Every version, or one name's, newest first. */
export async function listModelVersions(db: Database, name?: string): Promise<ModelVersionRow[]> {
  return db
    .select()
    .from(modelVersions)
    .where(name === undefined ? undefined : eq(modelVersions.name, name))
    .orderBy(asc(modelVersions.name), desc(modelVersions.version));
}

/**
 * Names the model id a version has on the upstream engines of its name (null: the upstreams file's). A champion's
 * route is not changed under it: register a new version and promote it instead, audited.
 */
export async function setUpstreamModel(
  db: Database,
  id: string,
  upstreamModel: string | null,
): Promise<ModelVersionRow | undefined> {
  const [row] = await db
    .update(modelVersions)
    .set({ upstreamModel })
    .where(and(eq(modelVersions.id, id), ne(modelVersions.status, "champion")))
    .returning();
  return row;
}
