// The scoring API through the official openai client on a listening gateway: POST /v1/completions with `echo`
// and `logprobs` (the protocol of lm-evaluation-harness's local-completions and vLLM), the tokenizer routes, and
// registered versions scored by name@vN; every figure compared with the engine's own scoring.
import type { Token } from "node-llama-cpp";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const prompt = "Question: Which organ produces insulin?\nAnswer:";
const answers = [" the pancreas", " the liver", " the spleen"];

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(
    { modelPath: testModels().ggufPath, contextSize: 512, parallel: 2, kvCache: "f32" },
    { versions: true },
  );
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
});

function maxDifference(a: number[], b: number[]): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((value, i) => Math.abs(value - b[i]!)));
}

async function post(path: string, body: unknown, key = gateway.apiKey): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("POST /v1/completions", () => {
  it("echoes every prompt token's log-probability, equal to the engine's scoring", async () => {
    const [local] = await gateway.engine.scoreContinuations(prompt, [answers[0]!]);
    const completion = await gateway.client.completions.create({
      model: "tiny",
      prompt: prompt + answers[0],
      echo: true,
      logprobs: 1,
      max_tokens: 0,
    });
    const choice = completion.choices[0]!;
    expect(choice.text).toBe(prompt + answers[0]);
    expect(choice.finish_reason).toBe("length");
    const logprobs = choice.logprobs!;
    const tokens = gateway.engine.tokenize(prompt + answers[0]);
    expect(logprobs.tokens).toHaveLength(tokens.length);
    expect(logprobs.token_logprobs![0]).toBeNull();
    expect(logprobs.top_logprobs![0]).toBeNull();
    expect(logprobs.text_offset![0]).toBe(0);
    const tail = logprobs.token_logprobs!.slice(-local!.tokens.length) as number[];
    expect(maxDifference(tail, local!.tokenLogprobs)).toBeLessThan(1e-4);
    expect(completion.usage).toMatchObject({ prompt_tokens: tokens.length, completion_tokens: 0 });
  });

  it("answers lm-evaluation-harness's request: token prompts in a batch, max_tokens 1, token_logprobs[ctxlen:-1]", async () => {
    const local = await gateway.engine.scoreContinuations(prompt, answers);
    const context = gateway.engine.tokenize(prompt.trimEnd());
    const batch = local.map((score) => [...context, ...score.tokens]);
    const response = await post("/v1/completions", {
      model: "tiny",
      prompt: batch,
      temperature: 0,
      max_tokens: 1,
      logprobs: 1,
      seed: 1234,
      echo: true,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OpenAI.Completion;
    expect(body.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    for (const choice of body.choices) {
      const score = local[choice.index]!;
      const { token_logprobs, top_logprobs } = choice.logprobs!;
      expect(token_logprobs).toHaveLength(batch[choice.index]!.length + 1);
      const scored = (token_logprobs as number[]).slice(context.length, -1);
      const sum = scored.reduce((total, value) => total + value, 0);
      expect(Math.abs(sum - score.logprob)).toBeLessThan(1e-4);
      // lm-eval's greedy rule: each token's log-probability equals the best of its top_logprobs.
      const greedy = scored.every(
        (value, i) => value === Math.max(...Object.values(top_logprobs![context.length + i]!)),
      );
      expect(greedy).toBe(score.isGreedy);
    }
    // The token is picked from the scoring pass: the same one, text and finish reason as a plain generation, and
    // its log-probability the best of its alternatives.
    const plain = (await (
      await post("/v1/completions", {
        model: "tiny",
        prompt: batch,
        temperature: 0,
        max_tokens: 1,
        seed: 1234,
      })
    ).json()) as OpenAI.Completion;
    for (const choice of body.choices) {
      const alone = plain.choices[choice.index]!;
      expect(choice.text.endsWith(alone.text)).toBe(true);
      expect(choice.finish_reason).toBe(alone.finish_reason);
      const last = choice.logprobs!.token_logprobs!.at(-1)!;
      expect(last).toBe(Math.max(...Object.values(choice.logprobs!.top_logprobs!.at(-1)!)));
    }
    expect(body.usage).toEqual(plain.usage);
  });

  it("generates raw text after a text prompt, whole, with its usage", async () => {
    const completion = await gateway.client.completions.create({
      model: "tiny",
      prompt,
      max_tokens: 6,
      temperature: 0,
    });
    const choice = completion.choices[0]!;
    expect(typeof choice.text).toBe("string");
    expect(["stop", "length"]).toContain(choice.finish_reason);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(6);
    // Greedy is deterministic: the same request gives the same text.
    const again = await gateway.client.completions.create({
      model: "tiny",
      prompt,
      max_tokens: 6,
      temperature: 0,
    });
    expect(again.choices[0]!.text).toBe(choice.text);
  });

  it("streams the same text as whole, as text_completion chunks, its usage last, then [DONE]", async () => {
    const request = { model: "tiny", prompt, max_tokens: 12, temperature: 0, n: 2 };
    const whole = await gateway.client.completions.create(request);
    const stream = await gateway.client.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    const texts = ["", ""];
    const finishes: (string | null)[] = [null, null];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("text_completion");
      expect(chunk.id).toMatch(/^cmpl-/u);
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        if (choice.finish_reason) finishes[choice.index] = choice.finish_reason;
      }
    }
    expect(chunks).toBeGreaterThan(3);
    expect(texts).toEqual(whole.choices.map((choice) => choice.text));
    expect(finishes).toEqual(whole.choices.map((choice) => choice.finish_reason));
    expect(usage).toEqual(whole.usage);

    const raw = await post("/v1/completions", { ...request, n: 1, stream: true });
    expect(raw.headers.get("content-type")).toMatch(/^text\/event-stream/u);
    const events = (await raw.text()).trim().split("\n\n");
    expect(events.at(-1)).toBe("data: [DONE]");
  });

  it("streams an echo with log-probabilities as the whole answer gives them", async () => {
    const request = {
      model: "tiny",
      prompt: prompt + answers[0],
      echo: true,
      logprobs: 2,
      max_tokens: 3,
      temperature: 0,
    };
    const whole = await gateway.client.completions.create(request);
    const stream = await gateway.client.completions.create({ ...request, stream: true });
    const streamed: OpenAI.CompletionChoice[] = [];
    for await (const chunk of stream) streamed.push(...chunk.choices);
    expect(streamed.map((choice) => choice.text).join("")).toBe(whole.choices[0]!.text);
    const tokens = streamed.flatMap((choice) => choice.logprobs?.tokens ?? []);
    expect(tokens).toEqual(whole.choices[0]!.logprobs!.tokens);
  });

  it("max_tokens 0 without echo generates nothing", async () => {
    const completion = await gateway.client.completions.create({ model: "tiny", prompt, max_tokens: 0 });
    expect(completion.choices[0]).toMatchObject({ text: "", finish_reason: "length" });
    expect(completion.usage!.completion_tokens).toBe(0);
  });

  it("refuses what it cannot do with OpenAI's error shape", async () => {
    const cases: [unknown, number, string | null][] = [
      [{ model: "tiny", prompt: "" }, 400, "prompt"],
      [{ model: "tiny", prompt: [[1, 2, 999_999]] }, 400, "prompt[0]"],
      [{ model: "tiny", prompt, suffix: "and after" }, 400, "suffix"],
      [{ model: "tiny", prompt, logit_bias: { "7": 5 } }, 400, "logit_bias"],
      [{ model: "tiny", prompt, best_of: 2 }, 400, "best_of"],
      [{ model: "tiny", prompt, max_tokens: 10_000, stream: true }, 400, "prompt"],
      [{ model: "tiny", prompt: [] }, 400, "prompt"],
      [{ model: "nope", prompt }, 404, "model"],
      [{ model: "tiny@v99", prompt }, 404, "model"],
    ];
    for (const [body, status, param] of cases) {
      const response = await post("/v1/completions", body);
      expect(response.status, JSON.stringify(body)).toBe(status);
      const error = (await response.json()) as { error: { param: string | null; message: string } };
      expect(error.error.param).toBe(param);
    }
  });

  it("is for admin keys only, and is not written to the response log", async () => {
    const { secret } = await createApiKey(gateway.database.db, { name: "app", role: "client" });
    const response = await post("/v1/completions", { model: "tiny", prompt, max_tokens: 1 }, secret);
    expect(response.status).toBe(403);
    const before = gateway.completionLog.stats;
    await gateway.client.completions.create({ model: "tiny", prompt, max_tokens: 2 });
    expect(gateway.completionLog.stats).toEqual(before);
  });
});

describe("tokenizer routes", () => {
  it("tokenizes text and conversations as the engine does, and detokenizes", async () => {
    const text = await post("/tokenize", { model: "tiny", prompt: "Fever and a stiff neck" });
    const tokens = ((await text.json()) as { tokens: number[]; max_model_len: number }).tokens;
    expect(tokens).toEqual(gateway.engine.tokenize("Fever and a stiff neck"));
    const messages = [{ role: "user" as const, content: "Is 38 C a fever?" }];
    const chat = await post("/tokenize", { model: "tiny", messages });
    expect(((await chat.json()) as { tokens: number[] }).tokens).toEqual(
      gateway.engine.promptTokensOf(messages),
    );
    const back = await post("/detokenize", { model: "tiny", tokens });
    expect(((await back.json()) as { prompt: string }).prompt).toBe("Fever and a stiff neck");
    const info = await fetch(`${gateway.url}/tokenizer_info`, { headers: gateway.authHeaders });
    expect(await info.json()).toMatchObject({ eos_token: expect.any(String), model_max_length: 512 });
  });

  it("closes a final assistant message with the end-of-turn token unless asked to continue it", async () => {
    const messages = [
      { role: "user" as const, content: "Is 38 C a fever?" },
      { role: "assistant" as const, content: "Yes, a mild one." },
    ];
    const open = (await (
      await post("/tokenize", {
        model: "tiny",
        messages,
        add_generation_prompt: false,
        continue_final_message: true,
      })
    ).json()) as { tokens: Token[] };
    const closed = (await (
      await post("/tokenize", { model: "tiny", messages, add_generation_prompt: false })
    ).json()) as { tokens: Token[] };
    const [scored] = await gateway.engine.scoreAnswers(messages.slice(0, 1), ["Yes, a mild one."]);
    const prompt = gateway.engine.promptTokensOf(messages.slice(0, 1));
    expect([...open.tokens.slice(prompt.length), closed.tokens.at(-1)]).toEqual(scored!.tokens);
    expect(closed.tokens.slice(0, -1)).toEqual(open.tokens);
  });
});

describe("registered versions by name@vN", () => {
  it("loads a version on demand and scores it like the served engine", async () => {
    const file = testModels().ggufPath;
    const version = await registerModelVersion(gateway.database.db, {
      name: "tiny",
      ggufPath: file,
      ggufSha256: await sha256OfFile(file),
      status: "candidate",
    });
    const body = { prompt: prompt + answers[1], echo: true, logprobs: 1, max_tokens: 0 };
    const served = await gateway.client.completions.create({ model: "tiny", ...body });
    const pinned = await gateway.client.completions.create({ model: `tiny@v${version.version}`, ...body });
    expect(pinned.model).toBe(`tiny@v${version.version}`);
    const a = served.choices[0]!.logprobs!.token_logprobs!.slice(1) as number[];
    const b = pinned.choices[0]!.logprobs!.token_logprobs!.slice(1) as number[];
    // The served engine scores the beginning it shares with earlier requests from their log-probabilities and its
    // KV cache, the version's engine from scratch: the same figures up to float32 rounding in other batch shapes.
    expect(maxDifference(a, b)).toBeLessThan(1e-4);
  });
});
