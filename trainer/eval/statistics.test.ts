import { describe, expect, it } from "vitest";
import {
  mcnemarExact,
  mcnemarPValue,
  pairedBootstrap,
  pooledPairedBootstrap,
  seededRandom,
} from "./statistics.ts";

/**
 * Paired results with exact counts, shuffled with a seeded generator: `both` questions both models get
 * right, `b` only the candidate, `c` only the champion, `neither` neither.
 */
function paired(counts: { both: number; b: number; c: number; neither: number }, seed = 1) {
  const rows: [boolean, boolean][] = [
    ...Array.from({ length: counts.both }, (): [boolean, boolean] => [true, true]),
    ...Array.from({ length: counts.b }, (): [boolean, boolean] => [true, false]),
    ...Array.from({ length: counts.c }, (): [boolean, boolean] => [false, true]),
    ...Array.from({ length: counts.neither }, (): [boolean, boolean] => [false, false]),
  ];
  const random = seededRandom(seed);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  return { candidate: rows.map((row) => row[0]), champion: rows.map((row) => row[1]) };
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

const options = { resamples: 2000, seed: 7 };

describe("seededRandom", () => {
  it("is deterministic for a seed and uniform in [0, 1)", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(Array.from({ length: 5 }, seededRandom(43))).not.toEqual(first);

    const random = seededRandom(0);
    const bins = new Array<number>(10).fill(0);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      const value = random();
      min = Math.min(min, value);
      max = Math.max(max, value);
      bins[Math.floor(value * 10)]!++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    for (const bin of bins) expect(Math.abs(bin - 10_000)).toBeLessThan(500);
  });

  it("matches the reference mulberry32 stream", () => {
    // First outputs of Tommy Ettinger's C mulberry32 (compiled and run) for seeds 0 and 42.
    const words = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 3 }, () => random() * 4294967296);
    };
    expect(words(0)).toEqual([1144304738, 1416247, 958946056]);
    expect(words(42)).toEqual([2581720956, 1925393290, 3661312704]);
  });

  it("rejects a non-integer seed", () => {
    expect(() => seededRandom(0.5)).toThrow(/integer/);
  });
});

describe("mcnemarExact", () => {
  it("matches hand-computed exact p-values", () => {
    // b=10, c=2: P(X ≤ 2), X ~ Bin(12, 1/2) = (1 + 12 + 66) / 4096; two-sided 158 / 4096 = 0.03857.
    const { candidate, champion } = paired({ both: 50, b: 10, c: 2, neither: 30 });
    const result = mcnemarExact(candidate, champion);
    expect(result.b).toBe(10);
    expect(result.c).toBe(2);
    expect(result.pValue).toBeCloseTo(158 / 4096, 12);
    expect(result.pValue).toBeCloseTo(0.0386, 4);
    // Symmetric in b and c.
    expect(mcnemarPValue(2, 10)).toBeCloseTo(158 / 4096, 12);
    // b=5, c=0: 2 · (1/32).
    expect(mcnemarPValue(5, 0)).toBeCloseTo(1 / 16, 12);
    // b=7, c=3: 2 · (1 + 10 + 45 + 120) / 1024 = 0.34375.
    expect(mcnemarPValue(7, 3)).toBeCloseTo(0.34375, 12);
  });

  it("gives 1 when b = c and when there are no discordant pairs", () => {
    expect(mcnemarPValue(6, 6)).toBe(1);
    expect(mcnemarPValue(1, 1)).toBe(1);
    const { candidate, champion } = paired({ both: 40, b: 0, c: 0, neither: 10 });
    expect(mcnemarExact(candidate, champion)).toEqual({ b: 0, c: 0, pValue: 1 });
    expect(mcnemarExact([], [])).toEqual({ b: 0, c: 0, pValue: 1 });
  });

  it("stays finite for large n and agrees with the normal approximation", () => {
    for (const [b, c] of [
      [5100, 4900],
      [50_500, 49_500],
      [50_150, 49_850],
    ] as const) {
      const n = b + c;
      const p = mcnemarPValue(b, c);
      expect(Number.isFinite(p)).toBe(true);
      // Normal approximation with continuity correction.
      const z = (Math.min(b, c) + 0.5 - n / 2) / Math.sqrt(n / 4);
      const approx = 2 * normalCdf(z);
      expect(Math.abs(p - approx) / approx).toBeLessThan(0.02);
    }
    // Far in the tail it underflows to 0 rather than overflowing to NaN or Infinity.
    expect(mcnemarPValue(60_000, 40_000)).toBe(0);
    expect(mcnemarPValue(100_000, 0)).toBe(0);
    expect(mcnemarPValue(50_000, 50_000)).toBe(1);
  });

  it("counts discordant pairs from arrays of 100000 questions", () => {
    const { candidate, champion } = paired({ both: 60_000, b: 5_150, c: 4_850, neither: 30_000 }, 3);
    const result = mcnemarExact(candidate, champion);
    expect(result).toMatchObject({ b: 5150, c: 4850 });
    const z = (4850 + 0.5 - 5000) / Math.sqrt(10_000 / 4);
    expect(result.pValue).toBeCloseTo(2 * normalCdf(z), 3);
  });

  it("rejects unpaired results", () => {
    expect(() => mcnemarExact([true], [true, false])).toThrow(/same questions/);
  });
});

describe("pairedBootstrap", () => {
  const data = paired({ both: 600, b: 80, c: 60, neither: 260 });

  it("is deterministic for a seed", () => {
    const first = pairedBootstrap(data.candidate, data.champion, options);
    expect(pairedBootstrap(data.candidate, data.champion, options)).toEqual(first);
    // Other seeds: the same observed difference; the bounds move (they sit on a 1/n grid, so a single
    // other seed may land on the same pair).
    const others = [8, 9, 10, 11, 12].map((seed) =>
      pairedBootstrap(data.candidate, data.champion, { ...options, seed }),
    );
    for (const other of others) expect(other.difference).toBe(first.difference);
    expect(others.some((other) => other.lower !== first.lower || other.upper !== first.upper)).toBe(true);
  });

  it("reports the observed difference inside its interval", () => {
    const result = pairedBootstrap(data.candidate, data.champion, options);
    expect(result.difference).toBeCloseTo(0.02, 12);
    expect(result.resamples).toBe(2000);
    expect(result.lower).toBeLessThan(result.difference);
    expect(result.upper).toBeGreaterThan(result.difference);
  });

  it("has about the width the normal approximation predicts", () => {
    // Var of the mean paired difference = ((b + c)/n − d²) / n.
    const n = 1000;
    const d = 0.02;
    const se = Math.sqrt((140 / n - d * d) / n);
    const result = pairedBootstrap(data.candidate, data.champion, { ...options, resamples: 5000 });
    expect(result.upper - result.lower).toBeGreaterThan(2 * 1.96 * se * 0.9);
    expect(result.upper - result.lower).toBeLessThan(2 * 1.96 * se * 1.1);
  });

  it("widens with the confidence level", () => {
    const at90 = pairedBootstrap(data.candidate, data.champion, { ...options, confidence: 0.9 });
    const at99 = pairedBootstrap(data.candidate, data.champion, { ...options, confidence: 0.99 });
    expect(at99.upper - at99.lower).toBeGreaterThan(at90.upper - at90.lower);
  });

  it("narrows as the number of questions grows", () => {
    const small = paired({ both: 150, b: 20, c: 15, neither: 65 });
    const large = paired({ both: 2400, b: 320, c: 240, neither: 1040 });
    const smallResult = pairedBootstrap(small.candidate, small.champion, options);
    const largeResult = pairedBootstrap(large.candidate, large.champion, options);
    // 16× the questions: the interval should be about 4× narrower.
    const ratio = (smallResult.upper - smallResult.lower) / (largeResult.upper - largeResult.lower);
    expect(ratio).toBeGreaterThan(3);
    expect(ratio).toBeLessThan(5);
  });

  it("gives a zero-width interval when the models agree on every question", () => {
    const same = paired({ both: 70, b: 0, c: 0, neither: 30 });
    expect(pairedBootstrap(same.candidate, same.champion, options)).toEqual({
      difference: 0,
      lower: 0,
      upper: 0,
      resamples: 2000,
    });
  });

  it("rejects too few resamples, unpaired or empty results and a bad confidence", () => {
    expect(() => pairedBootstrap(data.candidate, data.champion, { resamples: 999, seed: 0 })).toThrow(
      /resamples must be an integer ≥ 1000/,
    );
    expect(() => pairedBootstrap(data.candidate, data.champion, { resamples: 1500.5, seed: 0 })).toThrow(
      /resamples/,
    );
    expect(() => pairedBootstrap(data.candidate, data.champion.slice(1), options)).toThrow(
      /same questions, got 1000 and 999 results/,
    );
    expect(() => pairedBootstrap([], [], options)).toThrow(/no questions/);
    expect(() => pairedBootstrap(data.candidate, data.champion, { ...options, confidence: 1 })).toThrow(
      /confidence/,
    );
  });
});

describe("pooledPairedBootstrap", () => {
  it("equals pairedBootstrap for a single benchmark", () => {
    const data = paired({ both: 300, b: 40, c: 25, neither: 135 });
    expect(pooledPairedBootstrap([data], options)).toEqual(
      pairedBootstrap(data.candidate, data.champion, options),
    );
  });

  it("pools by size: the difference is weighted by each benchmark's question count", () => {
    const small = paired({ both: 60, b: 20, c: 0, neither: 20 }, 2); // +20 points on 100 questions
    const large = paired({ both: 600, b: 0, c: 0, neither: 300 }, 3); // ±0 on 900 questions
    const result = pooledPairedBootstrap([small, large], options);
    expect(result.difference).toBeCloseTo(0.02, 12);
    expect(result.lower).toBeLessThan(0.02);
    expect(result.upper).toBeGreaterThan(0.02);
    expect(pooledPairedBootstrap([small, large], options)).toEqual(result);
  });

  it("is narrower than any one benchmark's interval", () => {
    const benchmarks = [1, 2, 3].map((seed) => paired({ both: 500, b: 60, c: 50, neither: 390 }, seed));
    const pooled = pooledPairedBootstrap(benchmarks, options);
    for (const benchmark of benchmarks) {
      const single = pairedBootstrap(benchmark.candidate, benchmark.champion, options);
      expect(pooled.upper - pooled.lower).toBeLessThan(single.upper - single.lower);
    }
  });

  it("rejects an empty list and names the unpaired benchmark", () => {
    expect(() => pooledPairedBootstrap([], options)).toThrow(/no benchmarks/);
    const good = paired({ both: 5, b: 1, c: 1, neither: 3 });
    expect(() =>
      pooledPairedBootstrap([good, { candidate: [true], champion: [true, false] }], options),
    ).toThrow(/benchmark 1.*same questions/);
  });
});
