// Pairwise answer comparisons: the verdict of a judge asked in both orders, the candidate's win rate over the
// champion (ties count half) with a bootstrap interval over prompts, and AlpacaEval 2.0's length-controlled win
// rate (Dubois et al., 2024): a logistic regression of the verdict on the normalized length difference, read at
// equal length.
import { quantile, seededRandom } from "./statistics.ts";

export type AnswerVerdict = "win" | "tie" | "loss";

/**
 * The candidate's verdict from P(candidate better) asked with its answer shown first and shown second: a win when
 * both orders prefer it, a loss when both prefer the champion, else a tie (the judge's order decided it).
 */
export function verdictOf(candidateFirst: number, candidateSecond: number): AnswerVerdict {
  if (candidateFirst > 0.5 && candidateSecond > 0.5) return "win";
  if (candidateFirst < 0.5 && candidateSecond < 0.5) return "loss";
  return "tie";
}

export const verdictValue = (verdict: AnswerVerdict): number =>
  verdict === "win" ? 1 : verdict === "loss" ? 0 : 0.5;

/** One comparison: which prompt it belongs to, its verdict, and both answers' lengths in characters. */
export type Comparison = {
  prompt: number;
  verdict: AnswerVerdict;
  candidateChars: number;
  championChars: number;
};

export type WinRate = {
  /** Mean verdict value (win 1, tie ½, loss 0). */
  winRate: number;
  /** Percentile bootstrap interval, resampling prompts (each with all its samples). */
  lower: number;
  upper: number;
  resamples: number;
};

/**
 * The win rate and its percentile bootstrap interval: prompts are drawn with replacement, each bringing all its
 * comparisons (k samples of one prompt are not independent), paired since both answers belong to the prompt.
 */
export function winRateBootstrap(
  comparisons: Comparison[],
  options: { resamples: number; seed: number; confidence?: number },
): WinRate {
  if (comparisons.length === 0) throw new Error("winRateBootstrap: no comparisons");
  const confidence = options.confidence ?? 0.95;
  const byPrompt = new Map<number, { sum: number; count: number }>();
  for (const comparison of comparisons) {
    const cell = byPrompt.get(comparison.prompt) ?? { sum: 0, count: 0 };
    cell.sum += verdictValue(comparison.verdict);
    cell.count++;
    byPrompt.set(comparison.prompt, cell);
  }
  const cells = [...byPrompt.values()];
  const total = cells.reduce((sum, cell) => sum + cell.sum, 0);
  const count = cells.reduce((sum, cell) => sum + cell.count, 0);
  const random = seededRandom(options.seed);
  const stats = new Float64Array(options.resamples);
  for (let r = 0; r < options.resamples; r++) {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[Math.floor(random() * cells.length)]!;
      sum += cell.sum;
      n += cell.count;
    }
    stats[r] = sum / n;
  }
  stats.sort();
  const alpha = 1 - confidence;
  return {
    winRate: total / count,
    lower: quantile(stats, alpha / 2),
    upper: quantile(stats, 1 - alpha / 2),
    resamples: options.resamples,
  };
}

export type LengthControlledWinRate = {
  /** σ(θ): the fitted win rate where both answers are as long. */
  winRate: number;
  /** θ, the intercept (the candidate's strength at equal length) and φ, the weight of the length feature. */
  intercept: number;
  lengthCoefficient: number;
  /** Standard deviation of candidate − champion length (characters) the feature is scaled by; 0 when constant. */
  lengthScale: number;
};

/**
 * AlpacaEval 2.0's length control with two models on shared prompts: logit P(candidate wins) = θ + φ·tanh(Δ/σ),
 * Δ the candidate's answer length minus the champion's in characters and σ its standard deviation, fitted by
 * Newton's method on the verdict values (ties as ½) with a small L2 penalty that keeps the fit finite when the
 * verdicts separate; the length-controlled win rate is σ(θ), the prediction at Δ = 0. AlpacaEval's instruction
 * difficulty term is left out: it is estimated across many models, and here only two answer each prompt.
 */
export function lengthControlledWinRate(comparisons: Comparison[], penalty = 0.01): LengthControlledWinRate {
  if (comparisons.length === 0) throw new Error("lengthControlledWinRate: no comparisons");
  const deltas = comparisons.map((c) => c.candidateChars - c.championChars);
  const mean = deltas.reduce((sum, d) => sum + d, 0) / deltas.length;
  const scale = Math.sqrt(deltas.reduce((sum, d) => sum + (d - mean) ** 2, 0) / deltas.length);
  const xs = deltas.map((d) => (scale > 0 ? Math.tanh(d / scale) : 0));
  const ys = comparisons.map((c) => verdictValue(c.verdict));
  let theta = 0;
  let phi = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    // Gradient and Hessian of the penalized negative log-likelihood.
    let g0 = penalty * theta;
    let g1 = penalty * phi;
    let h00 = penalty;
    let h01 = 0;
    let h11 = penalty;
    for (let i = 0; i < xs.length; i++) {
      const p = 1 / (1 + Math.exp(-(theta + phi * xs[i]!)));
      const residual = p - ys[i]!;
      const weight = p * (1 - p);
      g0 += residual;
      g1 += residual * xs[i]!;
      h00 += weight;
      h01 += weight * xs[i]!;
      h11 += weight * xs[i]! * xs[i]!;
    }
    const determinant = h00 * h11 - h01 * h01;
    const step0 = (h11 * g0 - h01 * g1) / determinant;
    const step1 = (h00 * g1 - h01 * g0) / determinant;
    theta -= step0;
    phi -= step1;
    if (Math.abs(step0) < 1e-10 && Math.abs(step1) < 1e-10) break;
  }
  return {
    winRate: 1 / (1 + Math.exp(-theta)),
    intercept: theta,
    lengthCoefficient: phi,
    lengthScale: scale,
  };
}
