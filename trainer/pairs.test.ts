import { describe, expect, it } from "vitest";
import {
  type Candidate,
  clinicianPair,
  heldOutKeys,
  type Judgement,
  judgedPair,
  lengthBias,
} from "./pairs.ts";

const sampled = (id: number, text: string): Candidate => ({
  id,
  text,
  source: "sampled",
  completionId: null,
});
const logged = (id: number, text: string, completionId: string): Candidate => ({
  id,
  text,
  source: "logged",
  completionId,
});
const judgement = (
  fields: Partial<Judgement> & Pick<Judgement, "id" | "completionId" | "kind">,
): Judgement => ({
  rating: null,
  ratingScale: null,
  correction: null,
  otherCompletionId: null,
  preference: null,
  ...fields,
});

describe("clinician judgements", () => {
  const a = logged(10, "Rest and fluids.", "chatcmpl-a");
  const b = logged(11, "Take antibiotics at once.", "chatcmpl-b");
  const fix: Candidate = {
    id: 12,
    text: "Rest, fluids, and see a doctor if it lasts.",
    source: "correction",
    completionId: "chatcmpl-b",
  };

  it("a preference decides the pair, whatever the judge would say", () => {
    const decision = clinicianPair(
      [sampled(1, "x"), a, b],
      [
        judgement({
          id: 1,
          completionId: "chatcmpl-a",
          kind: "preference",
          otherCompletionId: "chatcmpl-b",
          preference: "b",
        }),
      ],
    );
    expect(decision).toMatchObject({ kind: "pair", chosen: b, rejected: a, source: "clinician-preference" });
  });

  it("the latest preference wins and a tie drops the prompt", () => {
    const judgements = [
      judgement({
        id: 1,
        completionId: "chatcmpl-a",
        kind: "preference",
        otherCompletionId: "chatcmpl-b",
        preference: "b",
      }),
      judgement({
        id: 2,
        completionId: "chatcmpl-b",
        kind: "preference",
        otherCompletionId: "chatcmpl-a",
        preference: "tie",
      }),
    ];
    expect(clinicianPair([a, b], judgements)).toEqual({ kind: "dropped", reason: "tie" });
  });

  it("a correction is chosen against the answer it corrects", () => {
    const decision = clinicianPair(
      [a, b, fix],
      [judgement({ id: 3, completionId: "chatcmpl-b", kind: "correction", correction: fix.text })],
    );
    expect(decision).toMatchObject({
      kind: "pair",
      chosen: fix,
      rejected: b,
      source: "clinician-correction",
      margin: null,
    });
  });

  it("ratings alone leave the decision to the judge", () => {
    expect(
      clinicianPair(
        [a, b],
        [judgement({ id: 4, completionId: "chatcmpl-a", kind: "rating", rating: 1, ratingScale: "thumbs" })],
      ),
    ).toBeUndefined();
  });
});

describe("judged pairs", () => {
  const candidates = [
    sampled(1, "one"),
    sampled(2, "two"),
    logged(3, "three", "chatcmpl-c"),
    sampled(4, "four"),
  ];

  it("chosen is the best, rejected the worst, margin their difference", () => {
    const decision = judgedPair(candidates, [0.1, -0.5, 0.2, 0.6], [], {
      judge: "pairwise",
      minMargin: 0.05,
    });
    expect(decision).toMatchObject({
      kind: "pair",
      chosen: candidates[3],
      rejected: candidates[1],
      source: "judge:pairwise",
    });
    expect(decision.kind === "pair" && decision.margin).toBeCloseTo(1.1);
  });

  it("a thumbs-down answer is never chosen, even when the judge scores it best", () => {
    const down = judgement({
      id: 1,
      completionId: "chatcmpl-c",
      kind: "rating",
      rating: -1,
      ratingScale: "thumbs",
    });
    const decision = judgedPair(candidates, [0.1, -0.5, 0.9, 0.6], [down], {
      judge: "pairwise",
      minMargin: 0,
    });
    expect(decision).toMatchObject({ kind: "pair", chosen: candidates[3], rejected: candidates[1] });
    const lowFive = judgement({
      id: 2,
      completionId: "chatcmpl-c",
      kind: "rating",
      rating: 2,
      ratingScale: "five",
    });
    expect(
      judgedPair(candidates, [0.1, -0.5, 0.9, 0.6], [lowFive], { judge: "x", minMargin: 0 }),
    ).toMatchObject({
      chosen: candidates[3],
    });
  });

  it("pairs under the margin threshold, and identical texts, are dropped", () => {
    expect(judgedPair(candidates, [0.01, 0, 0.02, 0.03], [], { judge: "x", minMargin: 0.05 })).toEqual({
      kind: "dropped",
      reason: "margin",
    });
    expect(
      judgedPair([sampled(1, "same"), sampled(2, "same")], [1, 0], [], { judge: "x", minMargin: 0 }),
    ).toEqual({
      kind: "dropped",
      reason: "no-eligible-pair",
    });
  });
});

describe("held-out split", () => {
  const keys = Array.from({ length: 50 }, (_, i) => `prompt-${i}`);

  it("holds out the configured share, at least the minimum, stable for a seed", () => {
    const first = heldOutKeys(keys, { fraction: 0.1, minHeldout: 4, seed: 7 });
    expect(first.size).toBe(5);
    expect(heldOutKeys([...keys].reverse(), { fraction: 0.1, minHeldout: 4, seed: 7 })).toEqual(first);
    expect(heldOutKeys(keys, { fraction: 0.1, minHeldout: 4, seed: 8 })).not.toEqual(first);
    expect(heldOutKeys(keys.slice(0, 10), { fraction: 0.1, minHeldout: 4, seed: 7 }).size).toBe(4);
  });

  it("never holds out more than half, nor anything of a single pair", () => {
    expect(heldOutKeys(keys.slice(0, 5), { fraction: 0.1, minHeldout: 4, seed: 0 }).size).toBe(1);
    expect(heldOutKeys(keys.slice(0, 1), { fraction: 0.5, minHeldout: 4, seed: 0 }).size).toBe(0);
  });
});

describe("length bias", () => {
  it("warns when chosen answers are systematically longer", () => {
    const pairs = Array.from({ length: 10 }, (_, i) => ({
      chosen: "x".repeat(100 + i),
      rejected: "y".repeat(40),
    }));
    const bias = lengthBias(pairs);
    expect(bias).toMatchObject({ pairs: 10, rejectedMeanChars: 40, chosenLongerShare: 1 });
    expect(bias.warning).toMatch(/longer in 100% of pairs/u);
  });

  it("stays quiet when lengths are balanced", () => {
    const pairs = Array.from({ length: 10 }, (_, i) => ({
      chosen: "x".repeat(i % 2 ? 60 : 40),
      rejected: "y".repeat(50),
    }));
    expect(lengthBias(pairs).warning).toBeNull();
  });
});
