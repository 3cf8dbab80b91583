// Appends one clinician judgement after the checks every feedback path shares (API and review pages).
import type { z } from "zod";
import type { FeedbackRow } from "../../db/schema.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { RecentCompletionIds } from "../log/RecentCompletionIds.ts";
import type { feedbackRequest } from "../protocol.ts";
import type { FeedbackStore } from "./feedbackStore.ts";

export type FeedbackBody = z.infer<typeof feedbackRequest>;

/**
 * The answer must exist: in the log, or handed out by this gateway moments ago and not flushed yet
 * (that feedback is kept, not refused). A preference compares two different answers to one prompt.
 */
export async function recordFeedback(
  stores: { feedbackStore: FeedbackStore; recentCompletionIds: RecentCompletionIds },
  body: FeedbackBody,
  apiKeyId: string,
): Promise<FeedbackRow> {
  const { feedbackStore, recentCompletionIds } = stores;
  const known = async (id: string, param: string) => {
    const hash = await feedbackStore.promptHashOf(id);
    if (hash === undefined && !recentCompletionIds.has(id)) {
      throw new NotFoundError(`No chat completion with id ${id}.`, param, "completion_not_found");
    }
    return hash;
  };
  const hash = await known(body.completion_id, "completion_id");
  if (body.type === "preference") {
    if (body.other_completion_id === body.completion_id) {
      throw new BadRequestError("A preference compares two different answers.", "other_completion_id");
    }
    const otherHash = await known(body.other_completion_id, "other_completion_id");
    if (hash !== undefined && otherHash !== undefined && hash !== otherHash) {
      throw new BadRequestError(
        "A preference compares two answers to the same prompt.",
        "other_completion_id",
      );
    }
  }
  return feedbackStore.insert({
    completionId: body.completion_id,
    kind: body.type,
    apiKeyId,
    ...(body.type === "rating"
      ? typeof body.rating === "number"
        ? { rating: body.rating, ratingScale: "five" }
        : { rating: body.rating === "up" ? 1 : -1, ratingScale: "thumbs" }
      : {}),
    ...(body.type === "correction" ? { correction: body.correction } : {}),
    ...(body.type === "comment" ? { comment: body.comment } : {}),
    ...(body.type === "preference"
      ? { otherCompletionId: body.other_completion_id, preference: body.preference }
      : {}),
  });
}
