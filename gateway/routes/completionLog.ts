// GET /v1/chat/completions[/{id}] (admin keys only): read the response log in OpenAI's stored-completion shape.
import { Hono } from "hono";
import type { CompletionRow } from "../../db/schema.ts";
import type { GatewayEnv } from "../appTypes.ts";
import { auditRead } from "../audit/auditRead.ts";
import { NotFoundError } from "../errors.ts";
import { parseOrThrow } from "../parseRequest.ts";
import { completionIdSchema, completionListQuery, type StoredCompletion } from "../protocol.ts";

/** A log row as OpenAI's stored chat completion, with medgate's own fields under `medgate`. */
function toStoredCompletion(row: CompletionRow): StoredCompletion {
  return {
    id: row.id,
    object: "chat.completion",
    created: Math.floor(row.createdAt.getTime() / 1000),
    model: row.modelName,
    choices: (row.choices ?? []).map((choice) => ({
      index: choice.index,
      message: { role: "assistant", content: choice.text, refusal: null },
      logprobs: null,
      finish_reason: choice.finishReason,
    })),
    usage: {
      prompt_tokens: row.promptTokens,
      completion_tokens: row.completionTokens,
      total_tokens: row.promptTokens + row.completionTokens,
    },
    metadata: row.metadata ?? {},
    request_id: row.traceId,
    /** medgate extension: what the log holds beyond OpenAI's object. */
    medgate: {
      status: row.status,
      stored: row.stored,
      messages: row.messages,
      request: row.request,
      error: row.error,
      latency_ms: row.latencyMs,
      time_to_first_token_ms: row.timeToFirstTokenMs,
      model_version_id: row.modelVersionId,
      upstream: row.upstream,
      api_key_id: row.apiKeyId,
      user: row.user,
    },
  };
}

export const completionLogRoutes = new Hono<GatewayEnv>()
  .get("/chat/completions/:id", async (c) => {
    c.get("deps").auth.assertRole(c.get("caller"), "admin");
    const id = c.req.param("id");
    // Only a well-formed id reaches the database; anything else cannot name a completion.
    const wellFormed = completionIdSchema.safeParse(id).success;
    const row = wellFormed ? await c.get("deps").logReader.find(id) : undefined;
    // A look for an id is recorded whether or not it is found: who asked after a conversation matters too. An id
    // that cannot name a completion is kept in the query (losslessly: it may hold any text), not as an id.
    await auditRead(c, c.get("caller"), {
      completionIds: wellFormed ? [id] : [],
      query: wellFormed ? { found: row !== undefined } : { id, found: false },
    });
    if (!row)
      throw new NotFoundError(`No chat completion with id ${id}.`, "completion_id", "completion_not_found");
    return c.json(toStoredCompletion(row));
  })
  .get("/chat/completions", async (c) => {
    c.get("deps").auth.assertRole(c.get("caller"), "admin");
    const query = parseOrThrow(completionListQuery, c.req.query());
    const page = await c.get("deps").logReader.list(query);
    const data = page.rows.map(toStoredCompletion);
    await auditRead(c, c.get("caller"), { completionIds: data.map((item) => item.id), query });
    return c.json({
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: page.hasMore,
    });
  });
