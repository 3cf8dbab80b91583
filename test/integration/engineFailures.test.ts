// Failures inside llama.cpp cost one request, never the process or a sequence: a token the sampler cannot
// accept fails that generation alone, and a generation that never stops after a cancel is given up and its
// sequence handed back as stuck (the engine then replaces it).

import { ChatMLChatWrapper } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatStream } from "../../inference/ChatStream.ts";
import type { ChatRequest } from "../../inference/chatTypes.ts";
import { defaultSampling, type InferenceEngine } from "../../inference/InferenceEngine.ts";
import { SamplingFailedError } from "../../inference/samplerGuard.ts";
import { sharedLlama } from "../../inference/sharedLlama.ts";
import { loadTinyEngine, testModels } from "../support/fixtures.ts";

const question: ChatRequest["messages"] = [{ role: "user", content: "What is asthma?" }];

describe("engine failures", () => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await loadTinyEngine({ contextSize: 256 });
  });
  afterAll(async () => {
    await engine?.[Symbol.asyncDispose]();
  });

  const answer = async (seed: number) =>
    (
      await (
        await engine.startChat({ messages: question, maxTokens: 6, sampling: {}, seed, stop: [] })
      ).result
    ).text;

  it("fails only the generation whose sampled token the grammar refuses, and keeps serving", async () => {
    // Reached here by a repeat penalty the gateway refuses (infinite logits), the way a grammar bug would.
    const broken = { repeatPenalty: 1e-200, topK: 0, minP: 0 };
    for (let round = 0; round < 3; round++) {
      const streams = await Promise.all(
        [0, 1].map((index) =>
          engine.startChat({
            messages: question,
            maxTokens: 8,
            sampling: broken,
            seed: round * 2 + index,
            stop: [],
            responseFormat: { type: "json_object" },
          }),
        ),
      );
      for (const stream of streams) {
        await expect(stream.result).rejects.toBeInstanceOf(SamplingFailedError);
        await expect(stream.result).rejects.toThrow(/grammar/u);
      }
      expect(engine.poolStats).toMatchObject({ inUse: 0, queued: 0 });
      expect(await answer(1)).toBe(await answer(1));
    }
  });

  it("gives up a cancelled generation that never stops and hands its sequence back as stuck", async () => {
    // A model and context of their own whose native sampler never answers stand in for an evaluation that never
    // settles. That context's batch dispatch then never finishes, so neither it nor its model can be disposed:
    // both are left to the end of the test process.
    const llama = await sharedLlama(false);
    const model = await llama.loadModel({ modelPath: testModels().ggufPath });
    const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
    const native = (context as unknown as { _ctx: object })._ctx;
    Object.defineProperty(native, "sampleToken", { configurable: true, value: () => new Promise(() => {}) });
    const released: boolean[] = [];
    const started = performance.now();
    const stream = new ChatStream({
      sequence: context.getSequence(),
      chatWrapper: new ChatMLChatWrapper(),
      history: [
        { type: "user", text: "What is asthma?" },
        { type: "model", response: [] },
      ],
      promptTokens: 8,
      maxTokens: 8,
      sampling: defaultSampling,
      seed: 1,
      stop: [],
      grammar: undefined,
      signal: undefined,
      abandonAfterMs: 500,
      release: (sequence, stuck) => {
        released.push(stuck);
        sequence.dispose();
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(released).toEqual([]);
    stream.cancel();
    const result = await stream.result;
    expect(result.finishReason).toBe("cancelled");
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(released).toEqual([true]);
    expect(llama.disposed).toBe(false);
  });
});
