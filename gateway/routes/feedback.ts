// POST /v1/feedback and GET /v1/feedback?completion_id=… (clinician and admin keys): append-only judgements.
import { Hono } from "hono";
import type { FeedbackRow } from "../../db/schema.ts";
import type { GatewayEnv } from "../appTypes.ts";
import { auditRead } from "../audit/auditRead.ts";
import { recordFeedback } from "../feedback/recordFeedback.ts";
import { parseJsonBody, parseOrThrow } from "../parseRequest.ts";
import { type FeedbackObject, feedbackQuery, feedbackRequest } from "../protocol.ts";

function toFeedback(row: FeedbackRow): FeedbackObject {
  return {
    id: row.id,
    object: "feedback",
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
    const { auth } = c.get("deps");
    const caller = c.get("caller");
    auth.assertRole(caller, "clinician", "admin");
    const body = await parseJsonBody(c, feedbackRequest);
    const row = await recordFeedback(c.get("deps"), body, caller.keyId);
    return c.json(toFeedback(row), 201);
  })
  .get("/feedback", async (c) => {
    const { auth, feedbackStore } = c.get("deps");
    auth.assertRole(c.get("caller"), "clinician", "admin");
    const query = parseOrThrow(feedbackQuery, { completion_id: c.req.query("completion_id") });
    const rows = await feedbackStore.listFor(query.completion_id);
    await auditRead(c, c.get("caller"), {
      completionIds: [
        query.completion_id,
        ...rows.flatMap((row) => (row.otherCompletionId ? [row.otherCompletionId] : [])),
      ],
      query,
    });
    return c.json({ object: "list", data: rows.map(toFeedback) });
  });
