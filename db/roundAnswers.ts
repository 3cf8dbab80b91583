// Queries of the gate's stored answers: both versions' answers to a round's probe prompts, checks and verdicts.
import { and, asc, count, eq } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type RoundAnswerRow, roundAnswers } from "./schema.ts";

export type NewRoundAnswer = Omit<typeof roundAnswers.$inferInsert, "id">;

/** Replaces a round's stored answers (a gate that ran again stores its own), in the caller's transaction. */
export async function replaceRoundAnswers(
  db: Database,
  roundId: string,
  rows: NewRoundAnswer[],
): Promise<void> {
  await db.delete(roundAnswers).where(eq(roundAnswers.roundId, roundId));
  // Batches keep each statement's parameters under PostgreSQL's limit of 65,535.
  for (let start = 0; start < rows.length; start += 1000) {
    await db.insert(roundAnswers).values(rows.slice(start, start + 1000));
  }
}

/** A round's answers by probe set, prompt and sample. */
export async function roundAnswersOf(db: Database, roundId: string): Promise<RoundAnswerRow[]> {
  return db
    .select()
    .from(roundAnswers)
    .where(eq(roundAnswers.roundId, roundId))
    .orderBy(asc(roundAnswers.probeSet), asc(roundAnswers.promptIndex), asc(roundAnswers.sample));
}

/** One page of a round's answers (of one probe set, or all), in `roundAnswersOf`'s order, and how many there are. */
export async function roundAnswersPage(
  db: Database,
  roundId: string,
  page: { probeSet?: string; offset: number; limit: number },
): Promise<{ rows: RoundAnswerRow[]; total: number }> {
  const where = and(
    eq(roundAnswers.roundId, roundId),
    page.probeSet === undefined ? undefined : eq(roundAnswers.probeSet, page.probeSet),
  );
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(roundAnswers)
      .where(where)
      .orderBy(asc(roundAnswers.probeSet), asc(roundAnswers.promptIndex), asc(roundAnswers.sample))
      .offset(page.offset)
      .limit(page.limit),
    db.select({ total: count() }).from(roundAnswers).where(where),
  ]);
  return { rows, total: Number(counted?.total ?? 0) };
}
