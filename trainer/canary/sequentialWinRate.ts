// The canary's decision statistic: the candidate's win rate against the champion from blind verdicts (a win 1, a
// tie ½, a loss 0), with a confidence sequence that stays valid however often it is looked at, so the decision may be
// taken at any new verdict at a declared error rate.
//
// The sequence is Robbins' normal mixture for sub-Gaussian observations (Howard, Ramdas, McAuliffe and Sekhon,
// "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021): observations in [0, 1]
// are sub-Gaussian with variance proxy ¼ (Hoeffding), so for every λ, exp(λ·S_t − λ²·V_t/2) with S_t the sum of
// (x_i − μ) and V_t = t/4 is a nonnegative supermartingale. Mixing λ over N(0, 1/ρ) gives
// M_t = sqrt(ρ / (V_t + ρ)) · exp(S_t² / (2(V_t + ρ))), and Ville's inequality gives P(∃t: M_t ≥ 1/α) ≤ α, that is
// |S_t| < sqrt((V_t + ρ) · (2 ln(1/α) + ln((V_t + ρ) / ρ))) at every t at once, with probability at least 1 − α.

export type Verdict = "candidate" | "champion" | "tie";

export type SequentialRule = {
  /** Error rate of the whole sequence, looked at after every verdict: P(the interval ever misses the truth) ≤ alpha. */
  alpha: number;
  /**
   * The win rate the candidate must clear. Default 0.5: strictly better than the champion; a non-inferiority
   * margin lowers it (0.45 accepts a candidate at most 5 points worse).
   */
  threshold: number;
  /** The number of verdicts at which the interval is made tightest (the mixture's ρ is tuned for it). */
  plannedComparisons: number;
};

export type WinRateBounds = {
  comparisons: number;
  wins: number;
  ties: number;
  losses: number;
  /** Wins plus half the ties, over the comparisons; NaN before the first. */
  winRate: number;
  /** The confidence sequence at this verdict, clipped to [0, 1]. */
  lower: number;
  upper: number;
};

export type SequentialDecision = WinRateBounds & {
  /** promote: the lower bound cleared the threshold; reject: the upper bound fell below it; else continue. */
  decision: "promote" | "reject" | "continue";
};

export const defaultSequentialRule: SequentialRule = { alpha: 0.05, threshold: 0.5, plannedComparisons: 200 };

const varianceProxy = 0.25;

/** The mixture's ρ that makes the radius smallest at `planned` observations (golden-section search on ln ρ). */
export function tunedRho(alpha: number, planned: number): number {
  checkRule({ alpha, threshold: 0.5, plannedComparisons: planned });
  const radiusAt = (logRho: number) => mixtureRadius(planned, alpha, Math.exp(logRho));
  let [low, high] = [Math.log(1e-3), Math.log(1e4)];
  const ratio = (Math.sqrt(5) - 1) / 2;
  for (let step = 0; step < 100; step++) {
    const left = high - ratio * (high - low);
    const right = low + ratio * (high - low);
    if (radiusAt(left) < radiusAt(right)) high = right;
    else low = left;
  }
  return Math.exp((low + high) / 2);
}

/** Half-width of the confidence sequence for the mean after `t` observations. */
export function mixtureRadius(t: number, alpha: number, rho: number): number {
  if (t <= 0) return Number.POSITIVE_INFINITY;
  const v = varianceProxy * t + rho;
  return Math.sqrt(v * (2 * Math.log(1 / alpha) + Math.log(v / rho))) / t;
}

/** The win rate and its always-valid interval, updated one verdict at a time. */
export class SequentialWinRate {
  readonly rule: SequentialRule;
  readonly #rho: number;
  #wins = 0;
  #ties = 0;
  #losses = 0;

  constructor(rule: SequentialRule = defaultSequentialRule) {
    checkRule(rule);
    this.rule = rule;
    this.#rho = tunedRho(rule.alpha, rule.plannedComparisons);
  }

  add(verdict: Verdict): SequentialDecision {
    if (verdict === "candidate") this.#wins++;
    else if (verdict === "tie") this.#ties++;
    else if (verdict === "champion") this.#losses++;
    else throw new RangeError(`a verdict is candidate, champion or tie, got ${String(verdict)}`);
    return this.decision();
  }

  bounds(): WinRateBounds {
    const [wins, ties, losses] = [this.#wins, this.#ties, this.#losses];
    const comparisons = wins + ties + losses;
    if (comparisons === 0)
      return { comparisons, wins, ties, losses, winRate: Number.NaN, lower: 0, upper: 1 };
    const winRate = (wins + ties / 2) / comparisons;
    const radius = mixtureRadius(comparisons, this.rule.alpha, this.#rho);
    return {
      comparisons,
      wins,
      ties,
      losses,
      winRate,
      lower: Math.max(0, winRate - radius),
      upper: Math.min(1, winRate + radius),
    };
  }

  /** The decision after the latest verdict: valid to take at any verdict, as often as one likes. */
  decision(): SequentialDecision {
    const bounds = this.bounds();
    const decision =
      bounds.comparisons > 0 && bounds.lower > this.rule.threshold
        ? "promote"
        : bounds.comparisons > 0 && bounds.upper < this.rule.threshold
          ? "reject"
          : "continue";
    return { ...bounds, decision };
  }
}

/** The decision after a list of verdicts. */
export function sequentialDecision(
  verdicts: readonly Verdict[],
  rule: SequentialRule = defaultSequentialRule,
): SequentialDecision {
  const state = new SequentialWinRate(rule);
  for (const verdict of verdicts) state.add(verdict);
  return state.decision();
}

function checkRule(rule: SequentialRule): void {
  if (!(rule.alpha > 0 && rule.alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${rule.alpha}`);
  if (!(rule.threshold > 0 && rule.threshold < 1))
    throw new RangeError(`threshold must be in (0, 1), got ${rule.threshold}`);
  if (!(Number.isInteger(rule.plannedComparisons) && rule.plannedComparisons >= 1))
    throw new RangeError(`plannedComparisons must be a positive integer, got ${rule.plannedComparisons}`);
}
