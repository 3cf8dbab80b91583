// The OpenAI-compatible chat API, exercised with the official `openai` client against a listening gateway
// on the tiny fixture model: answered by the in-process engine, and by a real llama-server upstream on the
// same GGUF (the same chat tests pass on both).
import { Ajv } from "ajv";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUpstreamsFile } from "../../gateway/upstream/upstreamConfig.ts";
import { serveUpstreamModels, type UpstreamModels } from "../../gateway/upstream/upstreamModels.ts";
import { type LlamaServer, startLlamaServer } from "../../loadtest/llamaServer.ts";
import { testModels } from "../support/fixtures.ts";
import { readSse, startGateway, type TestGateway } from "../support/startGateway.ts";

const question: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You are a careful medical assistant." },
  { role: "user", content: "What are the symptoms of asthma?" },
];

let gateway: TestGateway;
let llamaServer: LlamaServer;
let fleet: UpstreamModels;

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 4, contextSize: 512 });
  llamaServer = await startLlamaServer({ modelPath: testModels().ggufPath, parallel: 4, contextSize: 2048 });
  const { file, apiKeys } = parseUpstreamsFile(
    JSON.stringify({
      models: { fleet: { upstreams: [{ name: "llama-server", url: llamaServer.url, model: "tiny" }] } },
    }),
    "upstreams.json",
    {},
  );
  fleet = await serveUpstreamModels(gateway.database.db, gateway.models, file, apiKeys);
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  fleet?.[Symbol.dispose]();
  await llamaServer?.[Symbol.asyncDispose]();
});

describe.each([
  { backend: "in-process engine", model: "tiny" },
  { backend: "llama-server upstream", model: "fleet" },
])("non-streamed and streamed answers ($backend)", ({ backend, model }) => {
  /** The test question, whole (not streamed), with the given settings. */
  const ask = (params: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
    gateway.client.chat.completions.create({ model, messages: question, ...params, stream: false });

  it("answers with OpenAI's shape, usage and the gateway's headers", async () => {
    const { data, response } = await gateway.client.chat.completions
      .create({ model, messages: question, max_tokens: 12, temperature: 0, seed: 7 })
      .withResponse();
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.object).toBe("chat.completion");
    expect(data.model).toBe(model);
    expect(data.choices).toHaveLength(1);
    expect(data.choices[0]!.message.role).toBe("assistant");
    expect(typeof data.choices[0]!.message.content).toBe("string");
    // The tokens the engine evaluates for this conversation; they decode back to the rendered prompt. An
    // upstream renders the template itself: its count is its own.
    const tokens = gateway.engine.promptTokensOf(
      question.map((m) => ({ role: m.role as "system" | "user", content: String(m.content) })),
    );
    expect(gateway.engine.model.detokenize(tokens, true)).toContain("What are the symptoms of asthma?");
    const promptTokens = backend === "in-process engine" ? tokens.length : data.usage!.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(10);
    expect(data.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: data.usage!.completion_tokens,
      total_tokens: promptTokens + data.usage!.completion_tokens,
    });
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(data.usage!.completion_tokens).toBeLessThanOrEqual(12);
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    expect(Number(response.headers.get("x-medgate-overhead-ms"))).toBeGreaterThanOrEqual(0);
  });

  it("streams the same text as the whole answer at temperature 0 with a seed", async () => {
    const whole = await ask({
      max_tokens: 24,
      temperature: 0,
      seed: 11,
    });
    const stream = await gateway.client.chat.completions.create({
      model,
      messages: question,
      max_tokens: 24,
      temperature: 0,
      seed: 11,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    const joined = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(joined).toBe(whole.choices[0]!.message.content);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true);

    const choiceChunks = chunks.filter((chunk) => chunk.choices.length > 0);
    const withFinish = choiceChunks.filter((chunk) => chunk.choices[0]!.finish_reason !== null);
    expect(withFinish).toHaveLength(1);
    expect(withFinish[0]).toBe(choiceChunks.at(-1));
    expect(withFinish[0]!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);

    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it("ends the raw event stream with the usage chunk and then [DONE]", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...gateway.authHeaders },
      body: JSON.stringify({
        model,
        messages: question,
        max_tokens: 5,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    expect(response.headers.get("x-medgate-overhead-ms")).toMatch(/^\d+(\.\d+)?$/);
    const events = await readSse(response);
    expect(events.at(-1)).toBe("[DONE]");
    const usageChunk = JSON.parse(events.at(-2)!) as OpenAI.ChatCompletionChunk;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage!.completion_tokens).toBe(5);
  });

  it("returns n choices", async () => {
    const completion = await ask({
      max_tokens: 8,
      n: 2,
      temperature: 0.9,
      seed: 3,
    });
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
    const streamed = await gateway.client.chat.completions.create({
      model,
      messages: question,
      max_tokens: 8,
      n: 2,
      stream: true,
    });
    const finished = new Set<number>();
    for await (const chunk of streamed) {
      for (const choice of chunk.choices) if (choice.finish_reason) finished.add(choice.index);
    }
    expect([...finished].sort()).toEqual([0, 1]);
  });

  it("stops at max_tokens with finish_reason length, whichever field names it", async () => {
    for (const limit of [{ max_tokens: 3 }, { max_completion_tokens: 3 }]) {
      const completion = await gateway.client.chat.completions.create({
        model,
        messages: question,
        temperature: 0,
        ...limit,
      });
      expect(completion.choices[0]!.finish_reason).toBe("length");
      expect(completion.usage!.completion_tokens).toBe(3);
    }
  });

  it("ends the output at a stop string without including it", async () => {
    const free = await ask({
      max_tokens: 40,
      temperature: 0,
    });
    const text = free.choices[0]!.message.content!;
    // A stop string from the middle of the unconstrained answer: the answer must end just before it.
    const words = text.split(/\s+/u).filter((word) => word.length >= 3);
    expect(words.length).toBeGreaterThan(2);
    const stop = words[Math.floor(words.length / 2)]!;
    const stopped = await ask({
      max_tokens: 40,
      temperature: 0,
      stop: [stop],
    });
    const content = stopped.choices[0]!.message.content!;
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    expect(content).not.toContain(stop);
    expect(content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it("constrains output to a JSON schema", async () => {
    const schema = {
      type: "object",
      properties: {
        triage: { type: "string", enum: ["emergency", "urgent", "routine"] },
        see_clinician: { type: "boolean" },
        red_flags: {
          type: "array",
          items: { type: "string", enum: ["fever", "chest pain", "none"] },
          maxItems: 3,
        },
      },
      required: ["triage", "see_clinician", "red_flags"],
      additionalProperties: false,
    };
    const completion = await gateway.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Triage: chest pain for two hours. Answer in JSON." }],
      max_tokens: 120,
      temperature: 0.7,
      seed: 5,
      response_format: { type: "json_schema", json_schema: { name: "triage", schema, strict: true } },
    });
    const parsed = JSON.parse(completion.choices[0]!.message.content!);
    const validate = new Ajv().compile(schema);
    expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);

    const object = await gateway.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Give a JSON object." }],
      max_tokens: 200,
      temperature: 0,
      response_format: { type: "json_object" },
    });
    if (object.choices[0]!.finish_reason === "stop") {
      expect(typeof JSON.parse(object.choices[0]!.message.content!)).toBe("object");
    }
  });

  it("accepts and ignores unknown request fields", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...gateway.authHeaders },
      body: JSON.stringify({
        model,
        messages: question,
        max_tokens: 2,
        some_future_field: { a: 1 },
        user: "u1",
        metadata: { ward: "3B" },
      }),
    });
    expect(response.status).toBe(200);
  });
});

describe("models and probes", () => {
  it("lists the served model and looks it up by id", async () => {
    const list = await gateway.client.models.list();
    expect(list.data.map((model) => model.id)).toEqual(["tiny", "fleet"]);
    const model = await gateway.client.models.retrieve("tiny");
    expect(model.id).toBe("tiny");
    await expect(gateway.client.models.retrieve("nope")).rejects.toMatchObject({ status: 404 });
  });

  it("reports health and readiness", async () => {
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/ready`);
    expect(ready.status).toBe(200);
  });
});

describe("concurrency and cancellation", () => {
  const streamToEnd = async (maxTokens: number) => {
    const stream = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: question,
      max_tokens: maxTokens,
      stream: true,
    });
    let finish: string | null = null;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
    return finish;
  };

  it("completes 20 concurrent streams", async () => {
    const finishes = await Promise.all(Array.from({ length: 20 }, () => streamToEnd(16)));
    expect(finishes.every((finish) => finish === "stop" || finish === "length")).toBe(true);
  });

  it("frees the sequence of a client that aborts mid-stream", async () => {
    const controller = new AbortController();
    const stream = await gateway.client.chat.completions.create(
      { model: "tiny", messages: question, max_tokens: 400, stream: true },
      { signal: controller.signal },
    );
    let received = 0;
    try {
      for await (const _chunk of stream) {
        if (++received === 3) controller.abort();
      }
    } catch {
      // Some client versions end the iteration, others throw an abort error: both are a client leaving.
    }
    expect(received).toBe(3);

    const after = await Promise.all(
      Array.from({ length: 20 }, () =>
        gateway.client.chat.completions.create({ model: "tiny", messages: question, max_tokens: 4 }),
      ),
    );
    expect(after.every((completion) => completion.choices.length === 1)).toBe(true);
    // The aborted generation may need one more batch to notice; it must be back well before the 20 finish.
    await expect.poll(() => gateway.engine.poolStats.inUse, { timeout: 2_000 }).toBe(0);
    expect(gateway.engine.poolStats.queued).toBe(0);
  });
});
