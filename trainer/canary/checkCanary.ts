// One look at a running canary: pair its new traffic blind, read the clinicians' verdicts, apply the rule, and end it
// (one audited transaction) when the rule decides. The trainer's canary step calls it on every poll.
import {
  canaryAnswers,
  canaryJudgeVerdictsOf,
  canaryPairsOf,
  canaryVerdicts,
  endCanary,
  findCanary,
  type PairVerdict,
  pairCanaryAnswers,
  recordCanaryLook,
} from "../../db/canaries.ts";
import type { Database } from "../../db/createDatabase.ts";
import type { CanaryEvidence, CanaryRow } from "../../db/schema.ts";
import { type CanaryDecision, type CanaryErrorCounts, decideCanary, pairOutcomes } from "./canaryDecision.ts";
import { fleissKappa } from "./fleissKappa.ts";
import { judgeEvidence } from "./prejudgeCanary.ts";
import type { Verdict } from "./sequentialWinRate.ts";

export type CanaryLook = CanaryDecision & {
  canary: CanaryRow;
  /** Pairs made from its traffic so far, and how many of them have their verdicts. */
  pairs: number;
  judgedPairs: number;
  /** True when this look ended the canary. */
  ended: boolean;
};

/**
 * The canary's evidence now and what the rule makes of it; ends the canary when the rule decides (unless
 * `readOnly`). The round judge's verdicts, when there are any (or `judge` says why there are none), are reported in
 * `evidence.judge`, apart: the rule reads the clinicians' verdicts only.
 */
export async function checkCanary(
  db: Database,
  canaryId: string,
  options: {
    actor: string;
    now?: Date;
    readOnly?: boolean;
    /** The pre-judging judge (null before it is loaded), or why it gives no verdicts. */
    judge?: { name: string | null; skipped?: string };
  },
): Promise<CanaryLook> {
  const canary = await findCanary(db, canaryId);
  if (!canary) throw new Error(`No canary ${canaryId}.`);
  if (canary.state === "running" && !options.readOnly) await pairCanaryAnswers(db, canary);
  const pairs = await canaryPairsOf(db, canary.id);
  const verdicts = await canaryVerdicts(db, pairs);
  const outcomes = pairOutcomes(verdicts, canary.rule.judgesPerPair);
  const errors = errorCounts(canary, await canaryAnswers(db, canary.id));
  const now = options.now ?? new Date();
  const result = decideCanary(canary.rule, outcomes, errors, now.getTime() - canary.startedAt.getTime());
  const clinicianAgreement = agreementOf(verdicts, canary.rule.judgesPerPair);
  if (clinicianAgreement) result.evidence.clinicianAgreement = clinicianAgreement;
  const judgeRows = await canaryJudgeVerdictsOf(db, canary.id);
  const stored = canary.evidence?.judge;
  const judgeNote = options.judge ?? (stored ? { name: stored.judge, skipped: stored.skipped } : undefined);
  if (judgeRows.length > 0 || judgeNote) {
    result.evidence.judge = judgeEvidence(judgeRows, outcomes, {
      judge: judgeNote?.name ?? judgeRows[0]?.judge ?? null,
      skipped: judgeNote?.skipped,
    });
  }
  let ended = false;
  if (canary.state === "running" && result.decision === "continue" && !options.readOnly) {
    // The latest look, for gateways' /metrics and the status command, until the decision replaces it.
    await recordCanaryLook(db, canary.id, result.evidence);
  }
  if (canary.state === "running" && result.decision !== "continue" && !options.readOnly) {
    ended = await endCanary(db, canary.id, {
      state: result.decision === "promote" ? "promoted" : "rejected",
      evidence: result.evidence,
      actor: options.actor,
      reason: `canary ${result.decision === "promote" ? "promoted" : "rejected"}: ${result.evidence.cause}`,
    });
  }
  return {
    ...result,
    canary: ended ? ((await findCanary(db, canary.id)) ?? canary) : canary,
    pairs: pairs.length,
    judgedPairs: outcomes.length,
    ended,
  };
}

/** Fleiss' kappa over the pairs `judgesPerPair` (≥ 2) clinicians judged, each pair's first verdicts by distinct judges. */
function agreementOf(
  verdicts: readonly PairVerdict[],
  judgesPerPair: number,
): NonNullable<CanaryEvidence["clinicianAgreement"]> | undefined {
  if (judgesPerPair < 2) return undefined;
  const byPair = new Map<number, Verdict[]>();
  for (const { pairId, verdict } of verdicts) byPair.set(pairId, [...(byPair.get(pairId) ?? []), verdict]);
  const complete = [...byPair.values()]
    .filter((pair) => pair.length >= judgesPerPair)
    .map((pair) => pair.slice(0, judgesPerPair));
  return { pairs: complete.length, judgesPerPair, fleissKappa: fleissKappa(complete) };
}

/** Failed or cancelled answers per version under the canary (shadow answers count for the candidate). */
function errorCounts(
  canary: CanaryRow,
  answers: { modelVersionId: string | null; status: string }[],
): CanaryErrorCounts {
  const counts: CanaryErrorCounts = {
    candidate: { answers: 0, failed: 0 },
    champion: { answers: 0, failed: 0 },
  };
  for (const answer of answers) {
    const side =
      answer.modelVersionId === canary.candidateVersionId
        ? counts.candidate
        : answer.modelVersionId === canary.championVersionId
          ? counts.champion
          : undefined;
    if (!side) continue;
    side.answers++;
    if (answer.status === "error" || answer.status === "cancelled") side.failed++;
  }
  return counts;
}
