import { describe, expect, it } from "vitest";
import { pairwiseJudge, twoWaySoftmax, type VerdictSource } from "./pairwise.ts";

/** A judge that truly prefers longer answers but also says "A" more often than it should. */
function positionBiasedSource(bias: number): VerdictSource & { calls: number } {
  const source = {
    calls: 0,
    parallel: 3,
    describe: () => "synthetic",
    async probabilityAFirst(_conversation: unknown, a: string, b: string) {
      source.calls++;
      const truth = 1 / (1 + Math.exp(-(a.length - b.length) / 5));
      return Math.min(1, truth + bias * (1 - truth));
    },
  };
  return source;
}

describe("pairwise judge", () => {
  const conversation = [{ role: "user" as const, content: "What is a fever?" }];
  const answers = ["short", "a bit longer", "the longest answer of them all", "mid length one"];

  it("asks both orders of every pair and scores each candidate in [-1, 1]", async () => {
    const source = positionBiasedSource(0.3);
    const scores = await pairwiseJudge(source).score(conversation, answers);
    expect(source.calls).toBe(12);
    for (const score of scores) expect(Math.abs(score)).toBeLessThanOrEqual(1);
    const best = scores.indexOf(Math.max(...scores));
    const worst = scores.indexOf(Math.min(...scores));
    expect([answers[best], answers[worst]]).toEqual(["the longest answer of them all", "short"]);
  });

  it("gives each answer the same score whatever order the candidates come in", async () => {
    const scores = await pairwiseJudge(positionBiasedSource(0.4)).score(conversation, answers);
    const order = [2, 0, 3, 1];
    const permuted = await pairwiseJudge(positionBiasedSource(0.4)).score(
      conversation,
      order.map((i) => answers[i]!),
    );
    for (const [position, original] of order.entries()) {
      expect(permuted[position]).toBeCloseTo(scores[original]!, 12);
    }
  });

  it("normalizes two verdict log-probabilities", () => {
    expect(twoWaySoftmax(Math.log(0.6), Math.log(0.2))).toBeCloseTo(0.75, 12);
    expect(twoWaySoftmax(-Infinity, -Infinity)).toBe(0.5);
  });
});
