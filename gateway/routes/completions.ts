// POST /v1/completions (admin keys only): raw text completion and prompt scoring on an in-process engine. Not
// recorded in the response log: it serves evaluation, and benchmark prompts must never become training traffic.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { parseJsonBody } from "../parseRequest.ts";
import { completionRequest } from "../protocol.ts";
import { scoringEngineFor } from "../scoring/scoringEngine.ts";
import { createTextCompletion } from "../scoring/textCompletions.ts";

export const completionsRoute = new Hono<GatewayEnv>().post("/completions", async (c) => {
  const deps = c.get("deps");
  deps.auth.assertRole(c.get("caller"), "admin");
  const request = await parseJsonBody(c, completionRequest);
  const startedAt = performance.now();
  using scoring = await scoringEngineFor(deps.models, deps.versions, request.model);
  const served = deps.models.get(scoring.model);
  const fingerprint = served?.backend.fingerprint ?? `medgate-${scoring.model}`;
  const body = await createTextCompletion(
    scoring.engine,
    scoring.model,
    fingerprint,
    request,
    c.req.raw.signal,
  );
  c.set("engineMs", performance.now() - startedAt);
  return c.json(body);
});
