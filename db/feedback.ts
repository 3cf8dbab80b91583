// Queries of the feedback table: append a judgement, read a completion's judgements.
import { asc, eq } from "drizzle-orm";
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
