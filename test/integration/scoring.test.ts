// Exact log-likelihood scoring, checked against two independent computations: the log of node-llama-cpp's
// full next-token probability map evaluated from scratch, and transformers on the same f32 weights.
import type { LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { PromptScore } from "../../inference/scoreContinuations.ts";
import { runEngineScript } from "../../trainer/pythonEngine.ts";
import { loadTinyEngine, testModels } from "../support/fixtures.ts";

const prompt = "Question: What is the first treatment for an acute asthma attack?\nAnswer:";
const continuations = [
  " a short-acting inhaled bronchodilator",
  " rest and fluids",
  " surgery",
  " inhaled salbutamol, and call a clinician if it does not help",
];

let engine: InferenceEngine;

beforeAll(async () => {
  engine = await loadTinyEngine({
    contextSize: 512,
    // Exact scoring: an f32 cache without flash attention, as the benchmark gate and judges use.
    kvCache: "f32",
  });
});
afterAll(async () => {
  await engine?.[Symbol.asyncDispose]();
});

/** log p of each token after its prefix, read from the full probability map of a fresh context. */
async function fullMapLogprobs(
  model: LlamaModel,
  promptTokens: Token[],
  continuation: Token[],
): Promise<number[]> {
  const context = await model.createContext({
    contextSize: 512,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  try {
    const sequence = context.getSequence();
    const all = [...promptTokens, ...continuation];
    const outputs = await sequence.controlledEvaluate(
      all.map((token, index) =>
        index >= promptTokens.length - 1 && index < all.length - 1
          ? [token, { generateNext: { probabilities: true } }]
          : token,
      ),
    );
    return continuation.map((token, index) => {
      const probabilities = outputs[promptTokens.length - 1 + index]?.next.probabilities;
      const probability = probabilities?.get(token);
      if (probability === undefined) throw new Error(`no probability for token ${token}`);
      return Math.log(probability);
    });
  } finally {
    await context.dispose();
  }
}

describe("scoreContinuations", () => {
  it("tokenizes like lm-evaluation-harness: BOS, then the continuation as the tail of prompt + continuation", async () => {
    const scores = await engine.scoreContinuations(prompt, continuations);
    const model = engine.model;
    const bos = model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos] : [];
    scores.forEach((score, index) => {
      const whole = [...bos, ...model.tokenize(prompt + continuations[index], true)];
      const promptLength = bos.length + model.tokenize(prompt, true).length;
      expect(score.tokens).toEqual(whole.slice(promptLength));
      expect(score.tokenLogprobs).toHaveLength(score.tokens.length);
      expect(score.logprob).toBeCloseTo(
        score.tokenLogprobs.reduce((a, b) => a + b, 0),
        12,
      );
      expect(score.tokenLogprobs.every((value) => value < 0 && Number.isFinite(value))).toBe(true);
    });
  });

  it("matches the log of the full probability map computed from scratch", async () => {
    const bos = engine.model.tokens.bos!;
    const promptTokens = [bos, ...engine.model.tokenize(prompt, true)];
    const tokenContinuations = continuations.map((text) => engine.model.tokenize(text, false));
    const scores = await engine.scoreContinuations(promptTokens, tokenContinuations);
    for (const [index, score] of scores.entries()) {
      const reference = await fullMapLogprobs(engine.model, promptTokens, tokenContinuations[index]!);
      // Within float32 rounding: the normalizer Σ exp(logit − best) is summed in vocabulary order here (the
      // vocabulary is scanned, not sorted) and in descending order in node-llama-cpp's probability map.
      for (const [position, value] of score.tokenLogprobs.entries()) {
        expect(Math.abs(value - reference[position]!)).toBeLessThan(2e-5);
      }
    }
  });

  it("matches transformers on the same f32 weights", async () => {
    const bos = engine.model.tokens.bos!;
    const promptTokens = [bos, ...engine.model.tokenize(prompt, true)];
    const tokenContinuations = continuations.map((text) => engine.model.tokenize(text, false));
    const scores = await engine.scoreContinuations(promptTokens, tokenContinuations);
    const { stdout } = await runEngineScript("logprobs.py", [], {
      input: JSON.stringify({
        model_dir: testModels().hfDir,
        items: tokenContinuations.map((continuation) => ({
          prompt_ids: promptTokens,
          continuation_ids: continuation,
        })),
      }),
    });
    const reference = JSON.parse(stdout) as { items: { token_logprobs: number[]; sum: number }[] };
    scores.forEach((score, index) => {
      const expected = reference.items[index]!;
      expect(score.tokenLogprobs).toHaveLength(expected.token_logprobs.length);
      for (const [position, value] of score.tokenLogprobs.entries()) {
        expect(Math.abs(value - expected.token_logprobs[position]!)).toBeLessThan(1e-4);
      }
      expect(Math.abs(score.logprob - expected.sum)).toBeLessThan(5e-4);
    });
    // The ranking the benchmark gate relies on is the same under both.
    const order = (values: number[]) => values.map((_, i) => i).sort((a, b) => values[b]! - values[a]!);
    expect(order(scores.map((score) => score.logprob))).toEqual(
      order(reference.items.map((item) => item.sum)),
    );
  });

  it("gives the same scores whatever the sequence held before (prefix cache reuse is exact)", async () => {
    const first = await engine.scoreContinuations(prompt, continuations);
    await engine.scoreContinuations("Something else entirely:", [" yes", " no"]);
    const sharedPrefix = await engine.scoreContinuations(`${prompt} a`, [" b"]);
    expect(sharedPrefix[0]!.tokens.length).toBeGreaterThan(0);
    const again = await engine.scoreContinuations(prompt, [...continuations].reverse());
    const reversedBack = [...again].reverse();
    for (const [index, score] of first.entries()) {
      expect(reversedBack[index]!.logprob).toBeCloseTo(score.logprob, 9);
    }
  });

  it("scores a prompt after one that shares its beginning from the tail on, agreeing with transformers", async () => {
    const bos = engine.model.tokens.bos!;
    const prompts = continuations.map((continuation) => [
      bos,
      ...engine.model.tokenize(prompt + continuation, true),
    ]);
    // One request per prompt, as lm-evaluation-harness sends them: each after the one before on the same sequence.
    const scores: PromptScore[] = [];
    for (const tokens of prompts) scores.push(...(await engine.scorePrompts([tokens], { top: 1 })));
    const { stdout } = await runEngineScript("logprobs.py", [], {
      input: JSON.stringify({
        model_dir: testModels().hfDir,
        items: prompts.map((tokens) => ({ prompt_ids: [bos], continuation_ids: tokens.slice(1) })),
      }),
    });
    const reference = JSON.parse(stdout) as { items: { token_logprobs: number[] }[] };
    const shared = engine.model.tokenize(prompt, true).length;
    scores.forEach((score, index) => {
      expect(score.tokenLogprobs[0]).toBeNull();
      const values = score.tokenLogprobs.slice(1) as number[];
      expect(values).toHaveLength(reference.items[index]!.token_logprobs.length);
      for (const [position, value] of values.entries()) {
        expect(Math.abs(value - reference.items[index]!.token_logprobs[position]!)).toBeLessThan(1e-4);
      }
      // The shared beginning's figures are the first prompt's, reused.
      expect(score.tokenLogprobs.slice(0, shared)).toEqual(scores[0]!.tokenLogprobs.slice(0, shared));
    });
  });
});
