// POST /v1/chat/completions: validate, run, answer as JSON or as a server-sent event stream.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { countingTokens } from "../auth/keyRateLimit.ts";
import { createChatCompletion } from "../chat/createChatCompletion.ts";
import { overheadMs } from "../chat/overhead.ts";
import { parseJsonBody } from "../parseRequest.ts";
import { chatCompletionRequest } from "../protocol.ts";

export const chatCompletionsRoute = new Hono<GatewayEnv>().post("/chat/completions", async (c) => {
  const startedAt = performance.now();
  const request = await parseJsonBody(c, chatCompletionRequest);
  const { models, completionLog, rateLimiter, roleLimits } = c.get("deps");
  const caller = c.get("caller");
  const outcome = await createChatCompletion(
    {
      models,
      log: countingTokens(completionLog, rateLimiter, caller, roleLimits),
      caller,
      traceId: c.get("traceId"),
      receivedAt: startedAt,
      trace: {
        parent: c.get("traceContext"),
        captureMessageContent: c.get("deps").telemetry.captureMessageContent,
        server: serverOf(c.req.url),
      },
    },
    request,
    c.req.raw.signal,
  );
  c.set("engineMs", outcome.engineMs);
  if (outcome.kind === "json") return c.json(outcome.body);
  return new Response(outcome.body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-request-id": c.get("requestId"),
      "x-medgate-overhead-ms": overheadMs(startedAt, outcome.engineMs),
    },
  });
});

/** `server.address` and `server.port` of the request as the client addressed it. */
function serverOf(requestUrl: string): { address: string; port: number } {
  const url = new URL(requestUrl);
  return { address: url.hostname, port: Number(url.port || (url.protocol === "https:" ? 443 : 80)) };
}
