import { describe, expect, it } from "vitest";
import type { RoundRow } from "../../db/schema.ts";
import { roundConfigSchema } from "../roundConfig.ts";
import { judgeEvidence, prejudgeRefusal } from "./prejudgeCanary.ts";

const roundWith = (agreement: unknown) =>
  ({ stats: agreement ? { judged: { agreement } } : {} }) as unknown as RoundRow;

describe("prejudgeRefusal", () => {
  const required = roundConfigSchema.parse({ judgeAgreement: { minKappa: 0.4 } });
  it("lets a judge that passed a requirement pre-judge", () => {
    expect(prejudgeRefusal(roundWith({ used: true, reasons: [] }), required)).toBeUndefined();
  });
  it("refuses a judge that failed judgeAgreement, with its reasons", () => {
    expect(prejudgeRefusal(roundWith({ used: false, reasons: ["kappa 0.1 is below 0.4"] }), required)).toBe(
      "the round's judge did not pass judgeAgreement (kappa 0.1 is below 0.4)",
    );
  });
  it("refuses a judge that passed a requirement of nothing, and a round that measured none", () => {
    expect(prejudgeRefusal(roundWith({ used: true, reasons: [] }), roundConfigSchema.parse({}))).toMatch(
      /requires nothing/u,
    );
    expect(prejudgeRefusal(roundWith(undefined), required)).toMatch(/measured no judge/u);
  });
});

describe("judgeEvidence", () => {
  it("reports the judge apart, its agreement with the clinicians, and a clinician's verdict replacing it", () => {
    const judge = "pairwise (local:tiny)";
    const evidence = judgeEvidence(
      [
        { pairId: 1, judge, verdict: "champion" },
        { pairId: 2, judge, verdict: "candidate" },
        { pairId: 3, judge, verdict: "tie" },
      ],
      [
        { pairId: 1, verdict: "candidate" },
        { pairId: 2, verdict: "candidate" },
        { pairId: 4, verdict: "champion" },
      ],
    );
    expect(evidence).toEqual({
      judge,
      verdicts: 3,
      wins: 1,
      ties: 1,
      losses: 1,
      winRate: 0.5,
      agreement: { pairs: 2, agreed: 1 },
      // Pairs 1, 2 and 4 by the clinicians (win, win, loss), pair 3 by the judge (tie).
      combined: { pairs: 4, winRate: 2.5 / 4 },
    });
  });
  it("says why there are no verdicts", () => {
    expect(judgeEvidence([], [], { judge: null, skipped: "no" })).toMatchObject({
      judge: null,
      skipped: "no",
      verdicts: 0,
      winRate: null,
      combined: { pairs: 0, winRate: null },
    });
  });
});
