// The canary's rule over its evidence: a clearly better candidate is promoted, a worse one rejected, a failing one
// rejected at once whatever its verdicts, the timeout policy applies at maxComparisons and maxDuration, and a
// non-inferiority margin lowers the bar.
import { describe, expect, it } from "vitest";
import type { CanaryRule } from "../../db/schema.ts";
import { seededRandom } from "../eval/statistics.ts";
import { canaryConfigSchema } from "../roundConfig.ts";
import {
  type CanaryErrorCounts,
  canaryRuleOf,
  decideCanary,
  type PairOutcome,
  pairOutcomes,
} from "./canaryDecision.ts";
import type { Verdict } from "./sequentialWinRate.ts";

// The defaults, with a short run: 20 verdicts or an hour.
const rule: CanaryRule = canaryRuleOf(canaryConfigSchema.parse({ maxComparisons: 20, maxDuration: "1h" }));
const noErrors: CanaryErrorCounts = {
  candidate: { answers: 30, failed: 0 },
  champion: { answers: 30, failed: 0 },
};
const outcomes = (verdicts: Verdict[]): PairOutcome[] =>
  verdicts.map((verdict, index) => ({ pairId: index + 1, verdict }));

describe("decideCanary", () => {
  it("promotes a candidate the clinicians prefer, at the first verdict whose lower bound clears 0.5", () => {
    const { decision, evidence } = decideCanary(rule, outcomes(Array(15).fill("candidate")), noErrors, 0);
    expect(decision).toBe("promote");
    expect(evidence.comparisons).toBe(10);
    expect(evidence.pairIds).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(evidence.lower).toBeGreaterThan(0.5);
    expect(evidence.cause).toMatch(/lower bound/u);
  });

  it("rejects a candidate the clinicians find worse", () => {
    const { decision, evidence } = decideCanary(rule, outcomes(Array(12).fill("champion")), noErrors, 0);
    expect(decision).toBe("reject");
    expect(evidence.upper).toBeLessThan(0.5);
  });

  it("goes on while the interval holds the threshold", () => {
    const verdicts: Verdict[] = ["candidate", "champion", "tie", "candidate", "champion"];
    const { decision, evidence } = decideCanary(rule, outcomes(verdicts), noErrors, 0);
    expect(decision).toBe("continue");
    expect(evidence.winRate).toBe(0.5);
    expect(evidence.lower).toBeLessThan(0.5);
    expect(evidence.upper).toBeGreaterThan(0.5);
  });

  it("applies the timeout policy at maxComparisons and at maxDuration", () => {
    const even = outcomes(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "candidate" : "champion")));
    expect(decideCanary(rule, even, noErrors, 0).decision).toBe("reject");
    expect(decideCanary({ ...rule, onTimeout: "promote" }, even, noErrors, 0).decision).toBe("promote");
    const few = even.slice(0, 4);
    expect(decideCanary(rule, few, noErrors, rule.maxDurationMs - 1).decision).toBe("continue");
    const late = decideCanary(rule, few, noErrors, rule.maxDurationMs);
    expect(late.decision).toBe("reject");
    expect(late.evidence.cause).toMatch(/timeout policy/u);
  });

  it("rejects at once a candidate failing more often than the champion by more than the bound", () => {
    const failing: CanaryErrorCounts = {
      candidate: { answers: 20, failed: 3 },
      champion: { answers: 40, failed: 1 },
    };
    const { decision, evidence } = decideCanary(rule, outcomes(Array(15).fill("candidate")), failing, 0);
    expect(decision).toBe("reject");
    expect(evidence.errorRates.candidate).toBe(0.15);
    expect(evidence.cause).toMatch(/failed or cancelled/u);
    // Below the answers the rates need, the verdicts decide.
    const early = { ...failing, candidate: { answers: 19, failed: 3 } };
    expect(decideCanary(rule, outcomes(Array(15).fill("candidate")), early, 0).decision).toBe("promote");
  });

  it("lets a non-inferiority margin promote a candidate as good as the champion", () => {
    const even = outcomes(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? "candidate" : "champion")));
    const wide = { ...rule, maxComparisons: 200, nonInferiorityMargin: 0.2 };
    const { decision, evidence } = decideCanary(wide, even, noErrors, 0);
    expect(decision).toBe("promote");
    expect(evidence.threshold).toBeCloseTo(0.3);
    expect(decideCanary({ ...wide, nonInferiorityMargin: 0 }, even, noErrors, 0).decision).toBe("reject");
  });
});

describe("pairOutcomes", () => {
  it("counts a pair once its judges have spoken, by their majority", () => {
    const verdicts = [
      { pairId: 1, judge: "k1", verdict: "candidate" as const },
      { pairId: 2, judge: "k1", verdict: "champion" as const },
      { pairId: 1, judge: "k2", verdict: "champion" as const },
      { pairId: 1, judge: "k3", verdict: "candidate" as const },
      { pairId: 2, judge: "k2", verdict: "champion" as const },
      { pairId: 1, judge: "k4", verdict: "champion" as const },
    ];
    expect(pairOutcomes(verdicts, 1)).toEqual([
      { pairId: 1, verdict: "candidate" },
      { pairId: 2, verdict: "champion" },
    ]);
    expect(pairOutcomes(verdicts, 2)).toEqual([
      { pairId: 1, verdict: "tie" },
      { pairId: 2, verdict: "champion" },
    ]);
    expect(pairOutcomes(verdicts, 3)).toEqual([{ pairId: 1, verdict: "candidate" }]);
  });
});

describe("decideCanary by simulation", () => {
  /** Shares of `canaries` simulated canaries of up to maxComparisons verdicts that end promoted and rejected. */
  const simulate = (win: number, tie: number, canaries: number, seed: number) => {
    const random = seededRandom(seed);
    const ends = { promote: 0, reject: 0, continue: 0 };
    for (let canary = 0; canary < canaries; canary++) {
      const verdicts = Array.from({ length: 200 }, (): Verdict => {
        const draw = random();
        return draw < win ? "candidate" : draw < win + tie ? "tie" : "champion";
      });
      ends[decideCanary({ ...rule, maxComparisons: 200 }, outcomes(verdicts), noErrors, 0).decision]++;
    }
    return { promoted: ends.promote / canaries, rejected: ends.reject / canaries };
  };

  it("wrongly promotes a candidate exactly as good as the champion in at most alpha of canaries", () => {
    // Read after every verdict up to 200, then the timeout policy (reject).
    const { promoted } = simulate(0.4, 0.2, 2000, 7);
    expect(promoted).toBeLessThanOrEqual(rule.alpha);
    expect(promoted).toBeLessThan(0.01);
  });

  it("promotes a clearly better candidate and rejects a clearly worse one within 200 verdicts", () => {
    expect(simulate(0.65, 0.1, 300, 11).promoted).toBeGreaterThan(0.9);
    expect(simulate(0.25, 0.1, 300, 13).rejected).toBeGreaterThan(0.9);
  });
});
