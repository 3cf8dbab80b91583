import { describe, expect, it } from "vitest";
import type { Judgement } from "../pairs.ts";
import {
  agreementDecision,
  clinicianLabelledPairs,
  cohensKappa,
  type LabelledPair,
  measureAgreement,
} from "./agreement.ts";
import { pairwiseJudge, type VerdictSource } from "./pairwise.ts";

const advice = " If it gets worse, see a clinician today.";

/**
 * 40 pairs with a known rule: clinicians prefer the answer that sends the patient to care. The preferred answer
 * is the longer one in half of the pairs; which answer is `a` alternates.
 */
function rulePairs(): LabelledPair[] {
  return Array.from({ length: 40 }, (_, i) => {
    const plain = i % 4 < 2 ? "Rest, fluids and paracetamol for the fever, and keep an eye on it." : "Rest.";
    const good = i % 4 < 2 ? `Rest.${advice}` : `Rest, fluids and paracetamol.${advice}`;
    const conversation = [
      { role: "user" as const, content: `Question ${i}: I have had a fever for two days.` },
    ];
    return i % 2 === 0
      ? { conversation, a: good, b: plain, label: "a" as const }
      : { conversation, a: plain, b: good, label: "b" as const };
  });
}

const source = (probabilityAFirst: (a: string, b: string) => number): VerdictSource => ({
  describe: () => "synthetic",
  parallel: 4,
  probabilityAFirst: async (_conversation, a, b) => probabilityAFirst(a, b),
});

const measure = (verdicts: VerdictSource) =>
  measureAgreement(pairwiseJudge(verdicts), rulePairs(), { tieMargin: 0.05, resamples: 1000, seed: 7 });

describe("judge agreement with clinicians", () => {
  it("a judge that knows the rule agrees on every pair, in both orders", async () => {
    const oracle = await measure(
      source((a, b) => (a.includes(advice) ? 0.9 : b.includes(advice) ? 0.1 : 0.5)),
    );
    expect(oracle).toMatchObject({ pairs: 40, decisive: 40, kind: "pairwise" });
    expect(oracle.accuracy).toEqual({ value: 1, lower: 1, upper: 1 });
    expect(oracle.kappa.value).toBe(1);
    expect(oracle.positionConsistency.value).toBe(1);
    expect(oracle.lengthBias.judgeLongerShare.value).toBe(0.5);
    expect(oracle.lengthBias.clinicianLongerShare.value).toBe(0.5);
  });

  it("a judge that always prefers the first answer shown is inconsistent and never decides", async () => {
    const first = await measure(source(() => 0.9));
    // Its two orders cancel: every verdict is a tie, and every one-order verdict flips with the order.
    expect(first.accuracy.value).toBe(0);
    expect(first.kappa.value).toBe(0);
    expect(first.positionConsistency.value).toBe(0);
    expect(first.verdicts.every((verdict) => verdict.judge === "tie")).toBe(true);
  });

  it("a judge that prefers the longer answer is right only by chance, and shows its length bias", async () => {
    const longer = await measure(source((a, b) => (a.length > b.length ? 0.8 : 0.2)));
    expect(longer.accuracy.value).toBe(0.5);
    expect(longer.kappa.value).toBeCloseTo(0, 6);
    expect(longer.positionConsistency.value).toBe(1);
    expect(longer.lengthBias.judgeLongerShare.value).toBe(1);
    expect(longer.lengthBias.clinicianLongerShare.value).toBe(0.5);
    // The interval holds the estimate and is wide on 40 pairs.
    expect(longer.accuracy.lower!).toBeLessThan(0.5);
    expect(longer.accuracy.upper!).toBeGreaterThan(0.5);
    expect(longer.accuracy.upper! - longer.accuracy.lower!).toBeGreaterThan(0.15);
    // Refused by a minimum of 0.7, and by any minimum where there are too few pairs.
    const requirement = { minAccuracy: 0.7, minKappa: -1, minPairs: 20 };
    expect(agreementDecision(longer, requirement)).toEqual({
      used: false,
      reasons: ["accuracy 0.5 is below the minimum 0.7"],
    });
    expect(agreementDecision({ ...longer, pairs: 5 }, { ...requirement, minAccuracy: 0.1 }).used).toBe(false);
    expect(agreementDecision(longer, { minAccuracy: 0, minKappa: -1, minPairs: 20 })).toEqual({
      used: true,
      reasons: [],
    });
    expect(agreementDecision(longer, { minAccuracy: 0, minKappa: 0.4, minPairs: 20 }).reasons).toEqual([
      "Cohen's kappa 0 is below the minimum 0.4",
    ]);
  });

  it("computes Cohen's kappa with ties as the textbook does", () => {
    // 10 items: 7 agreements; marginals a 5/4, b 3/4, tie 2/2 → p_e = (20 + 12 + 4) / 100 = 0.36.
    const ratings: ["a" | "b" | "tie", "a" | "b" | "tie"][] = [
      ["a", "a"],
      ["a", "a"],
      ["a", "a"],
      ["a", "b"],
      ["a", "tie"],
      ["b", "b"],
      ["b", "b"],
      ["b", "a"],
      ["tie", "tie"],
      ["tie", "b"],
    ];
    expect(cohensKappa(ratings)).toBeCloseTo((0.6 - 0.36) / (1 - 0.36), 12);
    expect(cohensKappa([])).toBeNull();
    expect(cohensKappa([["a", "a"]])).toBe(1);
  });

  it("takes the clinicians' pairs of a prompt: preferences with ties, corrections, up against down", () => {
    const conversation = [{ role: "user" as const, content: "Chest pain at rest?" }];
    const candidates = [
      { text: "one", source: "logged", completionId: "c1" },
      { text: "two", source: "logged", completionId: "c2" },
      { text: "three", source: "logged", completionId: "c3" },
      { text: "fixed", source: "correction", completionId: "c1" },
    ];
    const judgement = (id: number, fields: Partial<Judgement>): Judgement => ({
      id,
      completionId: "c1",
      kind: "rating",
      rating: null,
      ratingScale: null,
      correction: null,
      otherCompletionId: null,
      preference: null,
      ...fields,
    });
    const pairs = clinicianLabelledPairs(conversation, candidates, [
      judgement(1, { kind: "preference", otherCompletionId: "c2", preference: "tie" }),
      judgement(2, { kind: "correction", correction: "fixed" }),
      judgement(3, { kind: "rating", completionId: "c3", rating: 1, ratingScale: "thumbs" }),
      judgement(4, { kind: "rating", completionId: "c2", rating: -1, ratingScale: "thumbs" }),
    ]);
    const better = (pair: LabelledPair) =>
      pair.label === "a" ? pair.a : pair.label === "b" ? pair.b : "tie";
    expect(pairs.map((pair) => [pair.source, better(pair)])).toEqual([
      ["correction", "fixed"],
      ["preference", "tie"],
      ["rating", "three"],
    ]);
    expect(pairs.find((pair) => pair.source === "correction")).toMatchObject({
      conversation,
    });
  });
});
