// POST /v1/feedback and GET /v1/feedback?completion_id=… (clinician and admin keys): append-only judgements.
import { Hono } from "hono";
import { z } from "zod";
import type { FeedbackRow } from "../../db/schema.ts";
import type { GatewayEnv } from "../appTypes.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { paramOf } from "../protocol.ts";

const completionId = z.string().regex(/^chatcmpl-[\w-]+$/u, "must be a chat completion id (chatcmpl-…)");

/** medgate extension: the feedback a clinician can give on one answer. */
export const feedbackRequest = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("rating"),
    completion_id: completionId,
    /** "up" | "down", or a score from 1 to 5. */
    rating: z.union([z.enum(["up", "down"]), z.number().int().min(1).max(5)]),
  }),
  z.object({
    type: z.literal("correction"),
    completion_id: completionId,
    correction: z.string().min(1).max(100_000),
  }),
  z.object({
    type: z.literal("comment"),
    completion_id: completionId,
    comment: z.string().min(1).max(20_000),
  }),
  z.object({
    type: z.literal("preference"),
    completion_id: completionId,
    /** The other answer to the same prompt; "a" is `completion_id`, "b" this one. */
    other_completion_id: completionId,
    preference: z.enum(["a", "b", "tie"]),
  }),
]);

function toFeedback(row: FeedbackRow) {
  return {
    id: row.id,
    object: "feedback" as const,
    completion_id: row.completionId,
    type: row.kind,
    rating:
      row.rating === null
        ? null
        : row.ratingScale === "thumbs"
          ? row.rating > 0
            ? "up"
            : "down"
          : row.rating,
    correction: row.correction,
    comment: row.comment,
    other_completion_id: row.otherCompletionId,
    preference: row.preference,
    api_key_id: row.apiKeyId,
    created: Math.floor(row.createdAt.getTime() / 1000),
  };
}

export const feedbackRoutes = new Hono<GatewayEnv>()
  .post("/feedback", async (c) => {
    const { auth, feedbackStore, recentCompletionIds } = c.get("deps");
    const caller = c.get("caller");
    auth.assertRole(caller, "clinician", "admin");
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      throw new BadRequestError("We could not parse the JSON body of your request.", null, "invalid_json");
    }
    const parsed = feedbackRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = paramOf(issue.path);
      throw new BadRequestError(
        `Invalid value for '${param ?? "body"}': ${issue.message}`,
        param,
        "invalid_value",
      );
    }
    const body = parsed.data;
    // A completion this gateway answered moments ago may not be flushed yet: its feedback is kept.
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
    const row = await feedbackStore.insert({
      completionId: body.completion_id,
      kind: body.type,
      apiKeyId: caller.keyId,
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
    return c.json(toFeedback(row), 201);
  })
  .get("/feedback", async (c) => {
    const { auth, feedbackStore } = c.get("deps");
    auth.assertRole(c.get("caller"), "clinician", "admin");
    const id = completionId.safeParse(c.req.query("completion_id"));
    if (!id.success) throw new BadRequestError("completion_id is required (chatcmpl-…).", "completion_id");
    const rows = await feedbackStore.listFor(id.data);
    return c.json({ object: "list", data: rows.map(toFeedback) });
  });
