// Traces and metrics of a real gateway, exported by the OpenTelemetry SDK to a real OTLP/HTTP receiver on
// 127.0.0.1 and scraped from /metrics: the GenAI conventions' attributes with the right token counts, a
// caller's traceparent continued into the log row, error.type on errors, no message text without the opt-in.

import { eq } from "drizzle-orm";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Telemetry } from "../../cli/telemetry.ts";
import { createApiKey } from "../../db/apiKeys.ts";
import type { CanaryEvidence } from "../../db/schema.ts";
import { completions } from "../../db/schema.ts";
import { testModels } from "../support/fixtures.ts";
import { type OtlpReceiver, type ReceivedSpan, startTestTelemetry } from "../support/otlpReceiver.ts";
import { type Exposition, parsePrometheusText, sampleSum } from "../support/prometheusText.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const secret = "Patient Jane Roe, 54, on warfarin: is ibuprofen safe?";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";

let receiver: OtlpReceiver;
let telemetry: Telemetry;
let gateway: TestGateway;
let optedIn: TestGateway;

let exporting: AsyncDisposable;

beforeAll(async () => {
  const started = await startTestTelemetry();
  ({ receiver, telemetry } = started);
  exporting = started;
  const model = { modelPath: testModels().ggufPath, parallel: 2, contextSize: 256 };
  gateway = await startGateway(model, {
    telemetry: {
      captureMessageContent: false,
      metricsText: telemetry.metricsText,
      traceViewer: "http://jaeger.example/trace/{traceId}",
    },
  });
  optedIn = await startGateway(model, { telemetry: { captureMessageContent: true } });
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  await optedIn?.[Symbol.asyncDispose]();
  await exporting?.[Symbol.asyncDispose]();
});

/** The chat span of a completion, found by the response id it carries. */
function chatSpanOf(id: string): ReceivedSpan {
  const span = receiver.spans.find((candidate) => candidate.attributes["gen_ai.response.id"] === id);
  expect(span, `a chat span with gen_ai.response.id ${id}`).toBeDefined();
  return span!;
}

const childrenOf = (span: ReceivedSpan) =>
  receiver.spans.filter((child) => child.parentSpanId === span.spanId);
const parentOf = (span: ReceivedSpan) => receiver.spans.find((parent) => parent.spanId === span.parentSpanId);

describe("traces", () => {
  let whole: OpenAI.ChatCompletion;
  let streamedId = "";
  let streamedUsage: OpenAI.CompletionUsage | undefined;

  beforeAll(async () => {
    whole = await gateway.client.chat.completions.create(
      {
        model: "tiny",
        messages: [{ role: "user", content: secret }],
        max_tokens: 6,
        temperature: 0.5,
        top_p: 0.9,
      },
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
    );
    const stream = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: secret }],
      max_completion_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      streamedId = chunk.id;
      streamedUsage = chunk.usage ?? streamedUsage;
    }
    // A prompt longer than the context: refused before generation.
    await gateway.client.chat.completions
      .create({ model: "tiny", messages: [{ role: "user", content: "fever ".repeat(400) }], max_tokens: 4 })
      .catch(() => {});
    await gateway.completionLog.flush();
    await telemetry.forceFlush();
  });

  it("gives a whole completion a chat span with the GenAI attributes and its token counts", () => {
    const span = chatSpanOf(whole.id);
    expect(span.name).toBe("chat tiny");
    expect(span.service).toBe("medgate-test");
    expect(span.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "medgate",
      "gen_ai.request.model": "tiny",
      "gen_ai.response.model": "tiny",
      "gen_ai.request.max_tokens": 6,
      "gen_ai.request.temperature": 0.5,
      "gen_ai.request.top_p": 0.9,
      "gen_ai.response.finish_reasons": [whole.choices[0]!.finish_reason],
      "gen_ai.usage.input_tokens": whole.usage!.prompt_tokens,
      "gen_ai.usage.output_tokens": whole.usage!.completion_tokens,
      "server.address": "127.0.0.1",
      "server.port": Number(new URL(gateway.url).port),
    });
  });

  it("continues the caller's traceparent, and the log row keeps that trace id", async () => {
    const span = chatSpanOf(whole.id);
    expect(span.traceId).toBe(traceId);
    const server = parentOf(span)!;
    expect(server).toMatchObject({ name: "POST /v1/chat/completions", parentSpanId: "00f067aa0ba902b7" });
    expect(server.attributes).toMatchObject({
      "http.route": "/v1/chat/completions",
      "http.response.status_code": 200,
    });
    const [row] = await gateway.database.db.select().from(completions).where(eq(completions.id, whole.id));
    expect(row!.traceId).toBe(traceId);
  });

  it("traces a stream to its end, with the engine's work as a child span", async () => {
    const span = chatSpanOf(streamedId);
    expect(span.attributes).toMatchObject({
      "gen_ai.request.stream": true,
      "gen_ai.request.max_tokens": 5,
      "gen_ai.usage.input_tokens": streamedUsage!.prompt_tokens,
      "gen_ai.usage.output_tokens": streamedUsage!.completion_tokens,
    });
    const [engine] = childrenOf(span);
    expect(engine!.name).toBe("generate tiny");
    expect(engine!.events.map((event) => event.name)).toEqual(["sequence acquired", "first token"]);
    expect(engine!.attributes["medgate.engine.time_to_first_token_ms"]).toBeGreaterThan(0);
    const [row] = await gateway.database.db.select().from(completions).where(eq(completions.id, streamedId));
    expect(row!.traceId).toBe(span.traceId);
  });

  it("marks an error with error.type", () => {
    const [refused] = receiver
      .named("chat tiny")
      .filter((span) => span.attributes["error.type"] !== undefined);
    expect(refused!.attributes["error.type"]).toBe("context_length_exceeded");
    expect(refused!.status.code).toBe(2);
  });

  it("puts no message text on any span without the opt-in, and the conversation with it", async () => {
    expect(JSON.stringify(receiver.spans)).not.toContain("warfarin");
    const answer = await optedIn.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: secret }],
      max_tokens: 4,
    });
    await telemetry.forceFlush();
    const span = chatSpanOf(answer.id);
    expect(JSON.parse(String(span.attributes["gen_ai.input.messages"]))).toEqual([
      { role: "user", parts: [{ type: "text", content: secret }] },
    ]);
    expect(JSON.parse(String(span.attributes["gen_ai.output.messages"]))[0].parts[0].content).toBe(
      answer.choices[0]!.message.content,
    );
  });

  it("links each logged answer to its trace in the admin dashboard", async () => {
    const page = await fetch(`${gateway.url}/admin`, {
      headers: { cookie: `medgate_admin=${gateway.apiKey}` },
    });
    const html = await page.text();
    expect(html).toContain(`<a href="http://jaeger.example/trace/${traceId}" data-trace-id="${traceId}">`);
    expect(html).toContain(whole.id);
    expect(html).not.toContain("warfarin");
  });

  it("traces the response log's writes", () => {
    const writes = receiver.named("completion_log.insert");
    expect(writes.length).toBeGreaterThan(0);
    expect(
      writes.reduce((sum, span) => sum + Number(span.attributes["medgate.completion_log.rows"]), 0),
    ).toBeGreaterThanOrEqual(2);
  });
});

describe("/metrics", () => {
  const scrape = async (key: string) =>
    fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });

  it("is for admin keys only", async () => {
    expect((await fetch(`${gateway.url}/metrics`)).status).toBe(401);
    const { secret: client } = await createApiKey(gateway.database.db, { name: "app", role: "client" });
    expect((await scrape(client)).status).toBe(403);
  });

  it("counts exactly the requests sent, and the tokens they used, in Prometheus text", async () => {
    const before = await scrapeMetrics();
    const sent = 3;
    let outputTokens = 0;
    for (let i = 0; i < sent; i++) {
      const answer = await gateway.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: `What is a fever? (${i})` }],
        max_tokens: 4,
      });
      outputTokens += answer.usage!.completion_tokens;
    }
    const after = await scrapeMetrics();
    const delta = (name: string, labels: Record<string, string>) =>
      sampleSum(after, name, labels) - sampleSum(before, name, labels);
    const route = { http_route: "/v1/chat/completions", http_response_status_code: "200" };
    expect(delta("http_server_request_duration_count", route)).toBe(sent);
    expect(delta("gen_ai_client_token_usage_sum", { gen_ai_token_type: "output" })).toBe(outputTokens);
    expect(delta("gen_ai_server_request_duration_count", {})).toBe(sent);
    expect(after.types.get("http_server_request_duration")).toBe("histogram");
    for (const name of [
      "gen_ai_server_time_to_first_token",
      "gen_ai_server_time_per_output_token",
      "medgate_sequences_busy",
      "medgate_sequences_free",
      "medgate_queue_depth",
      "medgate_completion_log_queued",
      "medgate_completion_log_spooled",
      "medgate_completion_log_spool_bytes",
      "medgate_model_champion",
    ]) {
      expect(after.types.has(name), name).toBe(true);
    }
    expect(sampleSum(after, "medgate_sequences_free", { gen_ai_request_model: "tiny" })).toBe(2);
  });

  it("shows a running canary's share, verdicts, win rate and interval, and the judge's verdicts apart", async () => {
    const served = gateway.models.get("tiny")!;
    const judge = { judge: "pairwise (local:tiny)", verdicts: 7, winRate: 0.5 } as CanaryEvidence["judge"];
    const evidence = { comparisons: 12, winRate: 0.75, lower: 0.41, upper: 1, judge } as CanaryEvidence;
    // The canary as a gateway's watcher holds it: here on the champion's own engine, which keeps serving it.
    gateway.models.setCanary("tiny", {
      id: "0e1d5c2a-3b7f-4a52-9a65-1c9b7d3e2f10",
      mode: "split",
      share: 0.25,
      backend: served.backend,
      versionId: "7d7a9c1e-55f0-4d5e-8b1a-2c3d4e5f6a7b",
      version: 2,
      evidence,
    });
    try {
      const metrics = await scrapeMetrics();
      const canary = {
        gen_ai_request_model: "tiny",
        medgate_canary_mode: "split",
        medgate_model_version: "2",
      };
      expect(sampleSum(metrics, "medgate_canary_share", canary)).toBe(0.25);
      expect(sampleSum(metrics, "medgate_canary_comparisons", canary)).toBe(12);
      expect(sampleSum(metrics, "medgate_canary_win_rate", canary)).toBe(0.75);
      expect(sampleSum(metrics, "medgate_canary_win_rate_bound", { ...canary, bound: "lower" })).toBe(0.41);
      expect(sampleSum(metrics, "medgate_canary_win_rate_bound", { ...canary, bound: "upper" })).toBe(1);
      // The round judge's verdicts (canary.judgePrejudge), apart from the clinicians' comparisons above.
      expect(sampleSum(metrics, "medgate_canary_judge_verdicts", canary)).toBe(7);
      expect(sampleSum(metrics, "medgate_canary_judge_win_rate", canary)).toBe(0.5);
    } finally {
      gateway.models.setCanary("tiny", undefined);
    }
  });

  async function scrapeMetrics(): Promise<Exposition> {
    const response = await scrape(gateway.apiKey);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/u);
    return parsePrometheusText(await response.text());
  }
});
