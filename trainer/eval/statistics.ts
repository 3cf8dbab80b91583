// Paired statistics for comparing two models scored on the same multiple-choice questions: a seeded
// PRNG, the percentile paired bootstrap of the accuracy difference (per benchmark and pooled), and
// McNemar's exact test on the discordant pairs.
import type { McNemarResult } from "../../db/gateReport.ts";

/**
 * mulberry32: a small 32-bit PRNG (Tommy Ettinger's), uniform in [0, 1) with 2^-32 resolution. The same
 * seed always gives the same stream. Seeds are integers; they are taken modulo 2^32.
 */
export function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed)) throw new Error(`seededRandom: seed must be an integer, got ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type BootstrapOptions = {
  /** Bootstrap resamples; at least 1000. */
  resamples: number;
  /** PRNG seed: the same seed gives the same interval. */
  seed: number;
  /** Two-sided confidence level of the percentile interval. Default: 0.95 */
  confidence?: number;
};

export type BootstrapResult = {
  /** Observed accuracy difference, candidate − champion, in accuracy units (0.02 = 2 points). */
  difference: number;
  /** Percentile interval of the bootstrapped difference. */
  lower: number;
  upper: number;
  resamples: number;
};

export const minResamples = 1000;

export type PairedResults = { candidate: boolean[]; champion: boolean[] };

/**
 * Accuracy difference candidate − champion and its percentile bootstrap interval, resampling question
 * indices with replacement, the same indices for both models (paired).
 */
export function pairedBootstrap(
  candidate: boolean[],
  champion: boolean[],
  options: BootstrapOptions,
): BootstrapResult {
  return bootstrap([{ candidate, champion }], options, "pairedBootstrap");
}

/**
 * The pooled (size-weighted) accuracy difference over several benchmarks and its percentile bootstrap
 * interval: each resample draws every benchmark's own question count from that benchmark (stratified,
 * paired), then pools all questions. With one benchmark it equals `pairedBootstrap` draw for draw.
 */
export function pooledPairedBootstrap(
  benchmarks: PairedResults[],
  options: BootstrapOptions,
): BootstrapResult {
  return bootstrap(benchmarks, options, "pooledPairedBootstrap");
}

function bootstrap(benchmarks: PairedResults[], options: BootstrapOptions, caller: string): BootstrapResult {
  const { resamples, seed } = options;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < minResamples) {
    throw new Error(`${caller}: resamples must be an integer ≥ ${minResamples}, got ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new Error(`${caller}: confidence must be in (0, 1), got ${confidence}`);
  }
  if (benchmarks.length === 0) throw new Error(`${caller}: no benchmarks to pool`);
  // Per question: +1 candidate only right, −1 champion only right, 0 concordant.
  const deltas = benchmarks.map(({ candidate, champion }, i) => {
    const where = benchmarks.length > 1 ? ` (benchmark ${i})` : "";
    checkPaired(candidate, champion, `${caller}${where}`);
    const delta = new Int8Array(candidate.length);
    for (let q = 0; q < candidate.length; q++) delta[q] = Number(candidate[q]) - Number(champion[q]);
    return delta;
  });
  const total = deltas.reduce((sum, delta) => sum + delta.length, 0);
  let observed = 0;
  for (const delta of deltas) for (const d of delta) observed += d;

  const random = seededRandom(seed);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (const delta of deltas) {
      const n = delta.length;
      for (let q = 0; q < n; q++) sum += delta[Math.floor(random() * n)]!;
    }
    stats[r] = sum / total;
  }
  stats.sort();
  const alpha = 1 - confidence;
  return {
    difference: observed / total,
    lower: quantile(stats, alpha / 2),
    upper: quantile(stats, 1 - alpha / 2),
    resamples,
  };
}

/** Quantile of sorted values with linear interpolation between order statistics (R's type 7). */
export function quantile(sorted: Float64Array, p: number): number {
  const position = p * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  const low = sorted[below]!;
  return low + (sorted[above]! - low) * (position - below);
}

function checkPaired(candidate: boolean[], champion: boolean[], caller: string): void {
  if (candidate.length !== champion.length) {
    throw new Error(
      `${caller}: candidate and champion must be scored on the same questions, got ${candidate.length} and ${champion.length} results`,
    );
  }
  if (candidate.length === 0) throw new Error(`${caller}: no questions`);
}

/** McNemar's exact test on paired per-question results. */
export function mcnemarExact(candidate: boolean[], champion: boolean[]): McNemarResult {
  if (candidate.length !== champion.length) {
    throw new Error(
      `mcnemarExact: candidate and champion must be scored on the same questions, got ${candidate.length} and ${champion.length} results`,
    );
  }
  let b = 0;
  let c = 0;
  for (let q = 0; q < candidate.length; q++) {
    if (candidate[q] && !champion[q]) b++;
    else if (!candidate[q] && champion[q]) c++;
  }
  return { b, c, pValue: mcnemarPValue(b, c) };
}

/**
 * The two-sided exact McNemar p-value from the discordant counts. The binomial tail is summed in log
 * space from its largest term, P(X = k), downwards, so it neither overflows nor loses precision for large
 * n; a p-value too small for a double comes out as 0.
 */
export function mcnemarPValue(b: number, c: number): number {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) {
    throw new Error(`mcnemarPValue: counts must be non-negative integers, got b=${b}, c=${c}`);
  }
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  if (2 * k >= n) return 1; // b = c: the lower tail already holds half the mass.
  // log P(X = k) = log C(n, k) − n log 2, with C(n, k) built from the ratios C(n, i+1) / C(n, i).
  let logTerm = -n * Math.LN2;
  for (let i = 0; i < k; i++) logTerm += Math.log((n - i) / (i + 1));
  // P(X ≤ k) / P(X = k) = 1 + Σ_{i<k} P(X = i) / P(X = k); the terms shrink geometrically below k < n/2.
  let ratio = 1;
  let sum = 1;
  for (let i = k; i > 0; i--) {
    ratio *= i / (n - i + 1);
    sum += ratio;
    if (ratio < sum * 1e-17) break;
  }
  return Math.min(1, 2 * Math.exp(logTerm + Math.log(sum)));
}
