// The round judge pre-judging a canary's blind pairs (`canary.judgePrejudge`): when it may, its verdicts on the pairs
// no clinician has judged yet, asked in both orders as the gate asks, stored apart from the clinicians'; and what
// its verdicts say beside the clinicians', for the evidence. They never decide the canary.
import {
  canaryJudgeVerdictsOf,
  canaryPairsOf,
  canaryPairTexts,
  canaryVerdicts,
  type NewCanaryJudgeVerdict,
  recordCanaryJudgeVerdicts,
} from "../../db/canaries.ts";
import type { Database } from "../../db/createDatabase.ts";
import type {
  CanaryJudgeEvidence,
  CanaryJudgeVerdictRow,
  CanaryPairRow,
  CanaryRow,
  RoundRow,
} from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import { verdictOf } from "../eval/winRate.ts";
import type { Judge } from "../judges/types.ts";
import type { RoundConfig } from "../roundConfig.ts";
import type { PairOutcome } from "./canaryDecision.ts";
import type { Verdict } from "./sequentialWinRate.ts";

/**
 * Why the round's judge may not pre-judge its canary's pairs, or undefined when it may: it must have passed a
 * `judgeAgreement` requirement that asks something (a judge "passing" a check that requires nothing has shown
 * nothing about its agreement with the clinicians).
 */
export function prejudgeRefusal(round: RoundRow, config: RoundConfig): string | undefined {
  const agreement = round.stats.judged?.agreement;
  if (!agreement) return "the round measured no judge against the clinicians";
  if (agreement.used === false)
    return `the round's judge did not pass judgeAgreement (${(agreement.reasons ?? []).join("; ")})`;
  const { minAccuracy, minKappa } = config.judgeAgreement;
  if (minAccuracy <= 0 && minKappa <= -1)
    return "judgeAgreement requires nothing (minAccuracy 0, minKappa -1), so the judge passed no check";
  return undefined;
}

/** The canary's pairs that neither a clinician nor the judge has decided yet, oldest first. */
export async function pairsAwaitingJudge(db: Database, canary: CanaryRow): Promise<CanaryPairRow[]> {
  const pairs = await canaryPairsOf(db, canary.id);
  const byClinicians = new Set((await canaryVerdicts(db, pairs)).map((verdict) => verdict.pairId));
  const byJudge = new Set((await canaryJudgeVerdictsOf(db, canary.id)).map((row) => row.pairId));
  return pairs.filter((pair) => !byClinicians.has(pair.id) && !byJudge.has(pair.id));
}

/**
 * The judge's verdicts on `open` pairs that have no clinician's verdict and no judge's verdict yet, each asked with the
 * candidate's answer shown first and second (a win when both orders prefer it, as the gate counts), stored. A pair
 * whose two answers are the same text is a tie without asking; one too long for the judge's context is left
 * undecided (and not asked again by this trainer). Returns the verdicts stored.
 */
export async function prejudgeCanaryPairs(
  db: Database,
  canary: CanaryRow,
  judge: Judge,
  open: readonly CanaryPairRow[],
  options: { signal?: AbortSignal; tooLong: Set<number> },
): Promise<NewCanaryJudgeVerdict[]> {
  const made: NewCanaryJudgeVerdict[] = [];
  const name = judge.describe();
  for (const pair of open) {
    options.signal?.throwIfAborted();
    if (options.tooLong.has(pair.id)) continue;
    const texts = await canaryPairTexts(db, pair);
    if (!texts) continue;
    let verdict: NewCanaryJudgeVerdict;
    if (texts.candidate === texts.champion) {
      verdict = {
        canaryId: canary.id,
        pairId: pair.id,
        judge: name,
        verdict: "tie",
        candidateFirst: null,
        candidateSecond: null,
      };
    } else {
      try {
        const { aShownFirst, bShownFirst } = await judge.compare(
          texts.messages as ChatMessage[],
          texts.candidate,
          texts.champion,
          options.signal,
        );
        const answer = verdictOf(aShownFirst, bShownFirst);
        verdict = {
          canaryId: canary.id,
          pairId: pair.id,
          judge: name,
          verdict: answer === "win" ? "candidate" : answer === "loss" ? "champion" : "tie",
          candidateFirst: aShownFirst,
          candidateSecond: bShownFirst,
        };
      } catch (error) {
        if (!(error instanceof ContextLengthExceededError)) throw error;
        options.tooLong.add(pair.id);
        continue;
      }
    }
    // One at a time: a trainer stopped mid-way keeps what it judged.
    await recordCanaryJudgeVerdicts(db, [verdict]);
    made.push(verdict);
  }
  return made;
}

/**
 * The judge's verdicts beside the clinicians' outcomes: its own win rate, its agreement with the clinicians on the
 * pairs both decided, and the combined view in which a clinician's verdict replaces the judge's.
 */
export function judgeEvidence(
  judgeVerdicts: readonly Pick<CanaryJudgeVerdictRow, "pairId" | "judge" | "verdict">[],
  clinicians: readonly PairOutcome[],
  options: { judge?: string | null; skipped?: string } = {},
): CanaryJudgeEvidence {
  const value = (verdict: string) => (verdict === "candidate" ? 1 : verdict === "tie" ? 0.5 : 0);
  const rate = (verdicts: readonly string[]) =>
    verdicts.length === 0
      ? null
      : verdicts.reduce((sum, verdict) => sum + value(verdict), 0) / verdicts.length;
  const byClinicians = new Map<number, Verdict>(
    clinicians.map((outcome) => [outcome.pairId, outcome.verdict]),
  );
  const both = judgeVerdicts.filter((row) => byClinicians.has(row.pairId));
  const combined = [
    ...clinicians.map((outcome) => outcome.verdict as string),
    ...judgeVerdicts.filter((row) => !byClinicians.has(row.pairId)).map((row) => row.verdict),
  ];
  return {
    judge: options.judge !== undefined ? options.judge : (judgeVerdicts[0]?.judge ?? null),
    ...(options.skipped ? { skipped: options.skipped } : {}),
    verdicts: judgeVerdicts.length,
    wins: judgeVerdicts.filter((row) => row.verdict === "candidate").length,
    ties: judgeVerdicts.filter((row) => row.verdict === "tie").length,
    losses: judgeVerdicts.filter((row) => row.verdict === "champion").length,
    winRate: rate(judgeVerdicts.map((row) => row.verdict)),
    agreement: {
      pairs: both.length,
      agreed: both.filter((row) => byClinicians.get(row.pairId) === row.verdict).length,
    },
    combined: { pairs: combined.length, winRate: rate(combined) },
  };
}
