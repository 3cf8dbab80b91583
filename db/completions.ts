// Queries of the completions table (the response log): read one, page through, apply retention.
import { and, asc, desc, eq, getTableColumns, isNull, lt, sql } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type CompletionRow, completions, type NewCompletionRow } from "./schema.ts";

/** Inserts the rows whose id is not stored yet (so a replay is idempotent); returns how many were new. */
export async function insertCompletions(db: Database, rows: NewCompletionRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await db
    .insert(completions)
    .values(rows)
    .onConflictDoNothing()
    .returning({ id: completions.id });
  return inserted.length;
}

const dateColumns = Object.entries(getTableColumns(completions))
  .filter(([, column]) => column.dataType === "date")
  .map(([key]) => key as keyof NewCompletionRow);

/** A row read back from JSON (a spool file): its timestamps are strings again, and drizzle maps only Dates. */
export function reviveCompletionRow(row: NewCompletionRow): NewCompletionRow {
  const revived: Record<string, unknown> = { ...row };
  for (const key of dateColumns) {
    const value = revived[key];
    if (typeof value === "string") revived[key] = new Date(value);
  }
  return revived as NewCompletionRow;
}

export async function findCompletion(db: Database, id: string): Promise<CompletionRow | undefined> {
  const [row] = await db.select().from(completions).where(eq(completions.id, id));
  return row;
}

export type CompletionPage = { rows: CompletionRow[]; hasMore: boolean };

/**
 * A page of the log in creation order (ties broken by id), starting after the row `after` when given.
 * Options: `limit` rows (1–100), `order` "asc" | "desc", only `model` if given. Shadow answers (a canary's
 * candidate answering in the background) are not part of the log's pages.
 */
export async function listCompletions(
  db: Database,
  options: { limit: number; after?: string; order: "asc" | "desc"; model?: string },
): Promise<CompletionPage> {
  const conditions = [isNull(completions.shadowOf)];
  if (options.model) conditions.push(eq(completions.modelName, options.model));
  if (options.after) {
    const cursor = await findCompletion(db, options.after);
    if (cursor) {
      conditions.push(
        sql`(${completions.createdAt}, ${completions.id}) ${options.order === "asc" ? sql`>` : sql`<`} (${cursor.createdAt}, ${cursor.id})`,
      );
    }
  }
  const direction = options.order === "asc" ? asc : desc;
  const rows = await db
    .select()
    .from(completions)
    .where(and(...conditions))
    .orderBy(direction(completions.createdAt), direction(completions.id))
    .limit(options.limit + 1);
  return { rows: rows.slice(0, options.limit), hasMore: rows.length > options.limit };
}

/** Deletes log rows created before `before`; returns how many went. */
export async function pruneCompletions(db: Database, before: Date): Promise<number> {
  const deleted = await db
    .delete(completions)
    .where(lt(completions.createdAt, before))
    .returning({ id: completions.id });
  return deleted.length;
}
