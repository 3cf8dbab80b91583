// POST /v1/chat/completions: validate, run, answer as JSON or as a server-sent event stream.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { createChatCompletion } from "../chatCompletions.ts";
import { BadRequestError } from "../errors.ts";
import { overheadMs } from "../overhead.ts";
import { chatCompletionRequest, paramOf } from "../protocol.ts";

export const chatCompletionsRoute = new Hono<GatewayEnv>().post("/chat/completions", async (c) => {
  const startedAt = performance.now();
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw new BadRequestError(
      "We could not parse the JSON body of your request. Send a valid JSON object.",
      null,
      "invalid_json",
    );
  }
  const parsed = chatCompletionRequest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = paramOf(issue.path);
    throw new BadRequestError(
      `Invalid value for '${param ?? "body"}': ${issue.message}`,
      param,
      "invalid_value",
    );
  }
  const { models, completionLog } = c.get("deps");
  const outcome = await createChatCompletion(
    {
      models,
      log: completionLog,
      caller: c.get("caller"),
      requestId: c.get("requestId"),
      receivedAt: startedAt,
    },
    parsed.data,
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
