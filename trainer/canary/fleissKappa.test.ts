// Fleiss' kappa against figures worked by hand: perfect agreement, agreement at chance, and a mixed case.
import { describe, expect, it } from "vitest";
import { fleissKappa } from "./fleissKappa.ts";

describe("fleissKappa", () => {
  it("is 1 when the clinicians always agree and -1 when they always split between two answers", () => {
    expect(
      fleissKappa([
        ["candidate", "candidate"],
        ["champion", "champion"],
        ["tie", "tie"],
      ]),
    ).toBe(1);
    // Two categories used equally, every pair split: observed agreement 0, chance 0.5.
    expect(
      fleissKappa([
        ["candidate", "champion"],
        ["champion", "candidate"],
      ]),
    ).toBe(-1);
  });

  it("matches a case worked by hand", () => {
    // Three clinicians, four pairs: P_i = 1, 1/3, 1/3, 1, so P̄ = 2/3; of 12 verdicts 5 candidate, 5 champion, 2 tie,
    // so P̄e = (25 + 25 + 4) / 144 = 0.375; kappa = (2/3 − 0.375) / 0.625 = 0.4667.
    const kappa = fleissKappa([
      ["candidate", "candidate", "candidate"],
      ["candidate", "champion", "champion"],
      ["tie", "tie", "candidate"],
      ["champion", "champion", "champion"],
    ]);
    expect(kappa).toBeCloseTo(0.4667, 3);
  });

  it("is undefined without pairs or with one category only, and refuses unequal raters", () => {
    expect(fleissKappa([])).toBeNull();
    expect(fleissKappa([["tie", "tie"]])).toBeNull();
    expect(() => fleissKappa([["tie", "tie"], ["tie"]])).toThrow(RangeError);
  });
});
