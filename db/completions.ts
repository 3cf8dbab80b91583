// Queries of the completions table (the response log): read one, page through, apply retention.
import { and, asc, desc, eq, lt, sql } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type CompletionRow, completions } from "./schema.ts";

export async function findCompletion(db: Database, id: string): Promise<CompletionRow | undefined> {
  const [row] = await db.select().from(completions).where(eq(completions.id, id));
  return row;
}

export type CompletionPage = { rows: CompletionRow[]; hasMore: boolean };

/**
 * A page of the log in creation order (ties broken by id), starting after the row `after` when given.
 * Options: `limit` rows (1–100), `order` "asc" | "desc", only `model` if given.
 */
export async function listCompletions(
  db: Database,
  options: { limit: number; after?: string; order: "asc" | "desc"; model?: string },
): Promise<CompletionPage> {
  const conditions = [];
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
    .where(conditions.length > 0 ? and(...conditions) : undefined)
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
