// The canary's rule: from the pairs' verdicts and the two versions' error rates, promote, reject or go on. Pure, so
// that the same evidence always gives the same decision, whoever reads it.
import type { CanaryEvidence, CanaryRule } from "../../db/schema.ts";
import { type CanaryConfig, canaryDurationMs } from "../roundConfig.ts";
import { SequentialWinRate, type Verdict } from "./sequentialWinRate.ts";

/** The rule a canary is decided by, from a round config's `canary` section; stored with the canary at its start. */
export function canaryRuleOf(config: CanaryConfig): CanaryRule {
  return {
    threshold: config.threshold,
    nonInferiorityMargin: config.nonInferiorityMargin,
    alpha: config.alpha,
    maxComparisons: config.maxComparisons,
    maxDurationMs: canaryDurationMs(config.maxDuration),
    judgesPerPair: config.judgesPerPair,
    maxErrorRateIncrease: config.maxErrorRateIncrease,
    minAnswersForErrorRate: config.minAnswersForErrorRate,
    onTimeout: config.onTimeout,
  };
}

/** A pair once it has its verdicts: the majority of its first `judgesPerPair` judges (a tie when split). */
export type PairOutcome = { pairId: number; verdict: Verdict };

/** Answers of each version under the canary, and how many of them failed or were cancelled. */
export type CanaryErrorCounts = {
  candidate: { answers: number; failed: number };
  champion: { answers: number; failed: number };
};

export type CanaryDecision = {
  decision: "promote" | "reject" | "continue";
  evidence: CanaryEvidence;
};

/** The pairs' outcomes from individual verdicts: a pair counts once `judgesPerPair` judges have spoken. */
export function pairOutcomes(
  verdicts: readonly { pairId: number; judge: string; verdict: Verdict }[],
  judgesPerPair: number,
): PairOutcome[] {
  const byPair = new Map<number, Verdict[]>();
  const outcomes: PairOutcome[] = [];
  for (const { pairId, verdict } of verdicts) {
    const votes = byPair.get(pairId) ?? [];
    if (votes.length >= judgesPerPair) continue;
    votes.push(verdict);
    byPair.set(pairId, votes);
    if (votes.length < judgesPerPair) continue;
    const score =
      votes.filter((v) => v === "candidate").length - votes.filter((v) => v === "champion").length;
    outcomes.push({ pairId, verdict: score > 0 ? "candidate" : score < 0 ? "champion" : "tie" });
  }
  return outcomes;
}

/**
 * The decision at `elapsedMs` after the start. In order: a candidate failing more often than the champion by more
 * than the bound is rejected; then the verdicts are read one at a time (the confidence sequence is valid at every
 * one), and the first at which the lower bound clears threshold − margin promotes and the first at which the upper
 * bound falls below it rejects; at maxComparisons verdicts or maxDuration without either, the timeout policy applies.
 */
export function decideCanary(
  rule: CanaryRule,
  outcomes: readonly PairOutcome[],
  errors: CanaryErrorCounts,
  elapsedMs: number,
): CanaryDecision {
  const threshold = rule.threshold - rule.nonInferiorityMargin;
  const sequence = new SequentialWinRate({
    alpha: rule.alpha,
    threshold,
    plannedComparisons: rule.maxComparisons,
  });
  const rate = (side: { answers: number; failed: number }) =>
    side.answers === 0 ? null : side.failed / side.answers;
  const errorRates = {
    candidate: rate(errors.candidate),
    champion: rate(errors.champion),
    candidateAnswers: errors.candidate.answers,
    championAnswers: errors.champion.answers,
  };
  const used: number[] = [];
  const history: NonNullable<CanaryEvidence["history"]> = [];
  const evidence = (cause: string): CanaryEvidence => {
    const bounds = sequence.bounds();
    return {
      comparisons: bounds.comparisons,
      wins: bounds.wins,
      ties: bounds.ties,
      losses: bounds.losses,
      winRate: Number.isNaN(bounds.winRate) ? null : bounds.winRate,
      lower: bounds.lower,
      upper: bounds.upper,
      threshold,
      rule,
      cause,
      errorRates,
      pairIds: [...used],
      history: [...history],
    };
  };
  if (
    errors.candidate.answers >= rule.minAnswersForErrorRate &&
    (errorRates.candidate ?? 0) - (errorRates.champion ?? 0) > rule.maxErrorRateIncrease
  ) {
    for (const outcome of outcomes.slice(0, rule.maxComparisons)) {
      sequence.add(outcome.verdict);
      used.push(outcome.pairId);
    }
    return {
      decision: "reject",
      evidence: evidence(
        `the candidate's failed or cancelled share exceeds the champion's by more than ${rule.maxErrorRateIncrease}`,
      ),
    };
  }
  for (const outcome of outcomes.slice(0, rule.maxComparisons)) {
    const step = sequence.add(outcome.verdict);
    used.push(outcome.pairId);
    history.push({
      comparisons: step.comparisons,
      winRate: step.winRate,
      lower: step.lower,
      upper: step.upper,
    });
    if (step.decision === "promote")
      return { decision: "promote", evidence: evidence(`the win rate's lower bound cleared ${threshold}`) };
    if (step.decision === "reject")
      return { decision: "reject", evidence: evidence(`the win rate's upper bound fell below ${threshold}`) };
  }
  if (sequence.bounds().comparisons >= rule.maxComparisons)
    return timeout(rule, evidence(`${rule.maxComparisons} comparisons without a decision`));
  if (elapsedMs >= rule.maxDurationMs)
    return timeout(rule, evidence(`${Math.round(rule.maxDurationMs / 1000)} s without a decision`));
  return { decision: "continue", evidence: evidence("no decision yet") };
}

function timeout(rule: CanaryRule, evidence: CanaryEvidence): CanaryDecision {
  return {
    decision: rule.onTimeout,
    evidence: { ...evidence, cause: `${evidence.cause}: the timeout policy (${rule.onTimeout})` },
  };
}
