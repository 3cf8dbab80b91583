// What the feedback routes need from storage, and its implementation over the database.
import { nextCanaryPairFor } from "../../db/canaries.ts";
import { findCompletion } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import {
  completionIdsReviewedBy,
  feedbackFor,
  insertFeedback,
  type NewFeedback,
  preferencePairsBy,
} from "../../db/feedback.ts";
import type { CompletionRow, FeedbackRow } from "../../db/schema.ts";

export type FeedbackStore = {
  insert(row: NewFeedback): Promise<FeedbackRow>;
  listFor(completionId: string): Promise<FeedbackRow[]>;
  /** The stored completion's prompt hash, or undefined when no row has this id (yet). */
  promptHashOf(completionId: string): Promise<string | undefined>;
  /** Which of `among` this key has rated, corrected or commented on (the review queue). */
  completionIdsReviewedBy(apiKeyId: string, among: string[]): Promise<Set<string>>;
  /** Preferences this key gave where `completionId` is one of `among` (the compare view). */
  preferencePairsBy(
    apiKeyId: string,
    among: string[],
  ): Promise<{ completionId: string; otherCompletionId: string }[]>;
  /**
   * The next blind pair of a running canary this key has not judged, as shown: A first, B second (the candidate's
   * side is random per pair); a shadow answer included, which the log's reads never return. Default: none
   */
  nextCanaryPair?(apiKeyId: string): Promise<[CompletionRow, CompletionRow] | undefined>;
};

export function databaseFeedbackStore(db: Database): FeedbackStore {
  return {
    insert: (row) => insertFeedback(db, row),
    listFor: (completionId) => feedbackFor(db, completionId),
    promptHashOf: async (completionId) => (await findCompletion(db, completionId))?.promptHash,
    completionIdsReviewedBy: (apiKeyId, among) => completionIdsReviewedBy(db, apiKeyId, among),
    preferencePairsBy: (apiKeyId, among) => preferencePairsBy(db, apiKeyId, among),
    nextCanaryPair: async (apiKeyId) => {
      const pair = await nextCanaryPairFor(db, apiKeyId);
      if (!pair) return undefined;
      const [champion, candidate] = await Promise.all([
        findCompletion(db, pair.championCompletionId),
        findCompletion(db, pair.candidateCompletionId),
      ]);
      if (!champion || !candidate) return undefined;
      return pair.candidateSide === "a" ? [candidate, champion] : [champion, candidate];
    },
  };
}
