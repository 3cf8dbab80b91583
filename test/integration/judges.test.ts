// Judges on a real GGUF: the pairwise judge's scores do not depend on candidate order; the implicit reward
// of a model against itself is zero.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { implicitRewardJudge } from "../../trainer/judges/implicitReward.ts";
import { pairwiseJudge, scorerVerdicts } from "../../trainer/judges/pairwise.ts";
import { engineScorer } from "../../trainer/scoring/engineScorer.ts";
import { testModels } from "../support/fixtures.ts";

let engine: InferenceEngine;

beforeAll(async () => {
  engine = await InferenceEngine.load({
    modelPath: testModels().ggufPath,
    modelName: "judge",
    threads: 1,
    gpu: false,
    kvCache: "f32",
    parallel: 4,
  });
});
afterAll(async () => {
  await engine?.[Symbol.asyncDispose]();
});

const conversation = [{ role: "user" as const, content: "How do I treat a minor burn?" }];
const answers = [
  "Cool the burn under cool running water for 20 minutes.",
  "Put butter on the burn.",
  "Cover it with a clean, non-stick dressing and see a doctor if it blisters widely.",
  "Burns heal by themselves.",
];

describe("pairwise judge on the tiny GGUF", () => {
  it("scores the same answers the same, whatever order they are presented in", async () => {
    const judge = pairwiseJudge(scorerVerdicts(engineScorer(engine)));
    const scores = await judge.score(conversation, answers);
    expect(scores.reduce((sum, score) => sum + score, 0)).toBeCloseTo(0, 9);
    for (const order of [
      [3, 2, 1, 0],
      [1, 3, 0, 2],
    ]) {
      const permuted = await judge.score(
        conversation,
        order.map((i) => answers[i]!),
      );
      for (const [position, original] of order.entries()) {
        expect(Math.abs(permuted[position]! - scores[original]!)).toBeLessThan(1e-6);
      }
    }
  });
});

describe("implicit-reward judge", () => {
  it("gives zero reward when the policy is its own reference", async () => {
    const judge = implicitRewardJudge({
      policy: engineScorer(engine),
      reference: engineScorer(engine),
      beta: 0.1,
    });
    const rewards = await judge.score(conversation, answers);
    for (const reward of rewards) expect(Math.abs(reward)).toBeLessThan(1e-9);
  });
});
