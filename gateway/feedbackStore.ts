// What the feedback routes need from storage, and its implementation over the database.
import { findCompletion } from "../db/completions.ts";
import type { Database } from "../db/createDatabase.ts";
import { feedbackFor, insertFeedback, type NewFeedback } from "../db/feedback.ts";
import type { FeedbackRow } from "../db/schema.ts";

export type FeedbackStore = {
  insert(row: NewFeedback): Promise<FeedbackRow>;
  listFor(completionId: string): Promise<FeedbackRow[]>;
  /** The stored completion's prompt hash, or undefined when no row has this id (yet). */
  promptHashOf(completionId: string): Promise<string | undefined>;
};

export function databaseFeedbackStore(db: Database): FeedbackStore {
  return {
    insert: (row) => insertFeedback(db, row),
    listFor: (completionId) => feedbackFor(db, completionId),
    promptHashOf: async (completionId) => (await findCompletion(db, completionId))?.promptHash,
  };
}
