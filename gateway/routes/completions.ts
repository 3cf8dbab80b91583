// POST /v1/completions (admin keys only): raw text completion and prompt scoring on an in-process engine, whole or
// streamed. Not recorded in the response log: it serves evaluation, and benchmark prompts must never become
// training traffic.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { parseJsonBody } from "../parseRequest.ts";
import { completionRequest } from "../protocol.ts";
import { scoringEngineFor } from "../scoring/scoringEngine.ts";
import { streamTextCompletion } from "../scoring/textCompletionStream.ts";
import { createTextCompletion } from "../scoring/textCompletions.ts";

export const completionsRoute = new Hono<GatewayEnv>().post("/completions", async (c) => {
  const deps = c.get("deps");
  deps.auth.assertRole(c.get("caller"), "admin");
  const request = await parseJsonBody(c, completionRequest);
  const startedAt = performance.now();
  const scoring = await scoringEngineFor(deps.models, deps.versions, request.model);
  const served = deps.models.get(scoring.model);
  const fingerprint = served?.backend.fingerprint ?? `medgate-${scoring.model}`;
  if (request.stream) {
    let body: ReadableStream<Uint8Array>;
    try {
      // The engine stays lent until the stream ends.
      body = streamTextCompletion(scoring.engine, scoring.model, fingerprint, request, c.req.raw.signal, () =>
        scoring[Symbol.dispose](),
      );
    } catch (error) {
      scoring[Symbol.dispose]();
      throw error;
    }
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-request-id": c.get("requestId"),
      },
    });
  }
  using lent = scoring;
  const body = await createTextCompletion(lent.engine, lent.model, fingerprint, request, c.req.raw.signal);
  c.set("engineMs", performance.now() - startedAt);
  return c.json(body);
});
