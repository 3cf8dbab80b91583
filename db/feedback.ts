// Queries of the feedback table: append a judgement, read a completion's judgements, and what a clinician has judged.
import { and, asc, eq, inArray, ne } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type FeedbackRow, feedback } from "./schema.ts";

export type NewFeedback = typeof feedback.$inferInsert;

export async function insertFeedback(db: Database, row: NewFeedback): Promise<FeedbackRow> {
  const [inserted] = await db.insert(feedback).values(row).returning();
  return inserted!;
}

export async function feedbackFor(db: Database, completionId: string): Promise<FeedbackRow[]> {
  return db.select().from(feedback).where(eq(feedback.completionId, completionId)).orderBy(asc(feedback.id));
}

/** Which of `among` this key has rated, corrected or commented on (preferences do not count). */
export async function completionIdsReviewedBy(
  db: Database,
  apiKeyId: string,
  among: string[],
): Promise<Set<string>> {
  if (among.length === 0) return new Set();
  const rows = await db
    .selectDistinct({ completionId: feedback.completionId })
    .from(feedback)
    .where(
      and(
        eq(feedback.apiKeyId, apiKeyId),
        ne(feedback.kind, "preference"),
        inArray(feedback.completionId, among),
      ),
    );
  return new Set(rows.map((row) => row.completionId));
}

/** The pairs this key has already compared where one side is in `among`, each as both ids in either order. */
export async function preferencePairsBy(
  db: Database,
  apiKeyId: string,
  among: string[],
): Promise<{ completionId: string; otherCompletionId: string }[]> {
  if (among.length === 0) return [];
  const rows = await db
    .select({ completionId: feedback.completionId, otherCompletionId: feedback.otherCompletionId })
    .from(feedback)
    .where(
      and(
        eq(feedback.apiKeyId, apiKeyId),
        eq(feedback.kind, "preference"),
        inArray(feedback.completionId, among),
      ),
    );
  return rows.flatMap((row) =>
    row.otherCompletionId === null
      ? []
      : [{ completionId: row.completionId, otherCompletionId: row.otherCompletionId }],
  );
}
