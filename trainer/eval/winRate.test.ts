import { describe, expect, it } from "vitest";
import { mcnemarExact } from "./statistics.ts";
import {
  type AnswerVerdict,
  type Comparison,
  lengthControlledWinRate,
  verdictOf,
  winRateBootstrap,
} from "./winRate.ts";

const options = { resamples: 2000, seed: 0 };

function comparisons(verdicts: AnswerVerdict[], chars: (i: number) => [number, number] = () => [100, 100]) {
  return verdicts.map((verdict, prompt): Comparison => {
    const [candidateChars, championChars] = chars(prompt);
    return { prompt, verdict, candidateChars, championChars };
  });
}

const repeat = (verdict: AnswerVerdict, n: number): AnswerVerdict[] =>
  Array.from({ length: n }, () => verdict);

describe("pairwise verdicts", () => {
  it("is a win or a loss only when both orders agree", () => {
    expect(verdictOf(0.9, 0.7)).toBe("win");
    expect(verdictOf(0.1, 0.4)).toBe("loss");
    expect(verdictOf(0.9, 0.2)).toBe("tie");
    expect(verdictOf(0.5, 0.9)).toBe("tie");
  });
});

describe("winRateBootstrap", () => {
  it("counts ties half and gives a seeded interval around the win rate", () => {
    const result = winRateBootstrap(
      comparisons([...repeat("win", 30), ...repeat("tie", 10), ...repeat("loss", 20)]),
      options,
    );
    expect(result.winRate).toBeCloseTo(35 / 60, 12);
    expect(result.lower).toBeLessThan(result.winRate);
    expect(result.upper).toBeGreaterThan(result.winRate);
    // The binomial standard error of 60 verdicts is about 0.06: a 95% interval about ±0.12.
    expect(result.upper - result.lower).toBeGreaterThan(0.16);
    expect(result.upper - result.lower).toBeLessThan(0.3);
    expect(
      winRateBootstrap(
        comparisons([...repeat("win", 30), ...repeat("tie", 10), ...repeat("loss", 20)]),
        options,
      ),
    ).toEqual(result);
  });

  it("resamples prompts with all their samples", () => {
    // Two samples per prompt that always agree: the interval is that of 20 prompts, wider than 40 independent ones.
    const paired = [...repeat("win", 10), ...repeat("loss", 10)].flatMap((verdict, prompt) => [
      { prompt, verdict, candidateChars: 1, championChars: 1 },
      { prompt, verdict, candidateChars: 1, championChars: 1 },
    ]);
    const independent = comparisons([...repeat("win", 20), ...repeat("loss", 20)]);
    const a = winRateBootstrap(paired, options);
    const b = winRateBootstrap(independent, options);
    expect(a.winRate).toBe(0.5);
    expect(a.upper - a.lower).toBeGreaterThan((b.upper - b.lower) * 1.2);
  });

  it("is all wins at 1 with a degenerate interval", () => {
    expect(winRateBootstrap(comparisons(repeat("win", 8)), options)).toMatchObject({
      winRate: 1,
      lower: 1,
      upper: 1,
    });
  });
});

describe("lengthControlledWinRate", () => {
  it("equals the win rate when length does not matter", () => {
    // Wins and losses spread evenly over the length differences.
    const verdicts = Array.from({ length: 40 }, (_, i): AnswerVerdict => (i % 4 === 0 ? "loss" : "win"));
    const result = lengthControlledWinRate(comparisons(verdicts, (i) => [100 + ((i * 37) % 80) - 40, 100]));
    expect(result.winRate).toBeCloseTo(0.75, 1);
    expect(Math.abs(result.lengthCoefficient)).toBeLessThan(0.6);
  });

  it("discounts wins that come from longer answers", () => {
    // The candidate wins when its answer is longer and loses when it is shorter; more of its answers are longer.
    const chars = (i: number): [number, number] =>
      i < 30 ? [100 + 10 * (i + 1), 100] : [100 - 10 * (i - 29), 100];
    const verdicts = Array.from({ length: 40 }, (_, i): AnswerVerdict => {
      if (i < 30) return i % 6 === 0 ? "loss" : "win";
      return i % 5 === 0 ? "win" : "loss";
    });
    const raw = verdicts.filter((v) => v === "win").length / verdicts.length;
    const result = lengthControlledWinRate(comparisons(verdicts, chars));
    expect(raw).toBe(0.675);
    expect(result.lengthCoefficient).toBeGreaterThan(1);
    expect(result.winRate).toBeLessThan(raw - 0.1);
    expect(result.winRate).toBeGreaterThan(0.3);
  });

  it("stays finite when every verdict is a win, and is ½ on ties alone", () => {
    const allWins = lengthControlledWinRate(comparisons(repeat("win", 10), (i) => [100 + i, 100]));
    expect(allWins.winRate).toBeGreaterThan(0.9);
    expect(Number.isFinite(allWins.intercept)).toBe(true);
    expect(lengthControlledWinRate(comparisons(repeat("tie", 10))).winRate).toBeCloseTo(0.5, 12);
  });
});

describe("McNemar on check results", () => {
  it("counts the passes gained and lost and gives the exact two-sided p-value", () => {
    // 7 answers gained the advice, 1 lost it: p = 2·P(X ≤ 1), X ~ Bin(8, ½) = 2·9/256.
    const champion = [...Array(7).fill(false), true, ...Array(12).fill(true)];
    const candidate = [...Array(7).fill(true), false, ...Array(12).fill(true)];
    expect(mcnemarExact(candidate, champion)).toEqual({ b: 7, c: 1, pValue: 18 / 256 });
  });
});
