// The canary's sequential rule: its interval is valid under continuous monitoring (checked by simulation against
// a naive fixed-sample interval, which is not), and it decides for a clearly better or worse candidate.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../eval/statistics.ts";
import {
  defaultSequentialRule,
  mixtureRadius,
  type SequentialRule,
  SequentialWinRate,
  sequentialDecision,
  tunedRho,
  type Verdict,
} from "./sequentialWinRate.ts";

/** Runs `canaries` simulated canaries of up to `maxComparisons` verdicts; returns how each ended. */
function simulate(options: {
  canaries: number;
  maxComparisons: number;
  win: number;
  tie: number;
  seed: number;
  decide: (verdicts: number, wins: number, ties: number) => "promote" | "reject" | "continue";
}) {
  const random = seededRandom(options.seed);
  const ends = { promote: 0, reject: 0, continue: 0 };
  for (let canary = 0; canary < options.canaries; canary++) {
    let [wins, ties] = [0, 0];
    let end: "promote" | "reject" | "continue" = "continue";
    for (let n = 1; n <= options.maxComparisons && end === "continue"; n++) {
      const draw = random();
      if (draw < options.win) wins++;
      else if (draw < options.win + options.tie) ties++;
      end = options.decide(n, wins, ties);
    }
    ends[end]++;
  }
  return ends;
}

const rule: SequentialRule = { alpha: 0.05, threshold: 0.5, plannedComparisons: 200 };

/** The rule under test, fed the same counts. */
function sequential(n: number, wins: number, ties: number) {
  const winRate = (wins + ties / 2) / n;
  const radius = mixtureRadius(n, rule.alpha, rho);
  return winRate - radius > rule.threshold
    ? "promote"
    : winRate + radius < rule.threshold
      ? "reject"
      : "continue";
}
const rho = tunedRho(rule.alpha, rule.plannedComparisons);

describe("the canary's sequential win-rate rule", () => {
  it("counts wins, ties and losses and narrows its interval as verdicts come", () => {
    const state = new SequentialWinRate(rule);
    expect(state.decision()).toMatchObject({ comparisons: 0, lower: 0, upper: 1, decision: "continue" });
    const first = state.add("candidate");
    state.add("tie");
    const third = state.add("champion");
    expect(third).toMatchObject({ comparisons: 3, wins: 1, ties: 1, losses: 1, winRate: 0.5 });
    expect(third.upper - third.lower).toBeLessThan(first.upper - first.lower + 1e-12);
    expect(() => state.add("both" as Verdict)).toThrow(/candidate, champion or tie/);
    expect(() => new SequentialWinRate({ ...rule, alpha: 1.5 })).toThrow(/alpha/);
  });

  it("keeps the share of equal candidates wrongly promoted within the declared error rate, looked at after every verdict", () => {
    // Exactly as good: wins and losses equally likely, some ties.
    const equal = { canaries: 2000, maxComparisons: 400, win: 0.35, tie: 0.3, seed: 7 };
    const ends = simulate({ ...equal, decide: sequential });
    const wronglyPromoted = ends.promote / equal.canaries;
    expect(wronglyPromoted).toBeLessThanOrEqual(rule.alpha);
    // The naive 95% interval of a fixed sample size, checked after every verdict, promotes far more often: the
    // simulation can tell a rule that is not valid under continuous monitoring.
    const naive = simulate({
      ...equal,
      decide: (n, wins, ties) => {
        const winRate = (wins + ties / 2) / n;
        const secondMoment = (wins + ties / 4) / n;
        const halfWidth = 1.96 * Math.sqrt(Math.max(secondMoment - winRate ** 2, 1e-9) / n);
        return n >= 10 && winRate - halfWidth > 0.5 ? "promote" : "continue";
      },
    });
    expect(naive.promote / equal.canaries).toBeGreaterThan(2 * rule.alpha);
    console.log(
      `equal candidates wrongly promoted: sequential ${wronglyPromoted.toFixed(4)} (alpha ${rule.alpha}), naive fixed-sample interval ${(naive.promote / equal.canaries).toFixed(4)}`,
    );
  });

  it("promotes a clearly better candidate and rejects a clearly worse one within a few hundred verdicts", () => {
    const better = simulate({
      canaries: 300,
      maxComparisons: 400,
      win: 0.55,
      tie: 0.2,
      seed: 11,
      decide: sequential,
    });
    expect(better.promote / 300).toBeGreaterThan(0.9);
    const worse = simulate({
      canaries: 300,
      maxComparisons: 400,
      win: 0.2,
      tie: 0.2,
      seed: 13,
      decide: sequential,
    });
    expect(worse.reject / 300).toBeGreaterThan(0.9);
    expect(better.reject + worse.promote).toBe(0);
  });

  it("lets a non-inferiority margin accept a candidate as good as the champion", () => {
    const verdicts: Verdict[] = Array.from({ length: 600 }, (_, index) =>
      index % 3 === 0 ? "candidate" : index % 3 === 1 ? "champion" : "tie",
    );
    expect(sequentialDecision(verdicts, defaultSequentialRule).decision).toBe("continue");
    expect(sequentialDecision(verdicts, { ...defaultSequentialRule, threshold: 0.4 }).decision).toBe(
      "promote",
    );
  });
});
