// judging: clinician judgements first, the judge for the rest; pairs, their split, and the dataset snapshot.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JudgeAgreementReport, MarginSummary } from "../../db/gateReport.ts";
import { type NewRoundPair, storeJudgement } from "../../db/rounds.ts";
import type { RoundPromptRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { mapConcurrent } from "../concurrency.ts";
import { quantile } from "../eval/statistics.ts";
import { agreementDecision, measureAgreement } from "../judges/agreement.ts";
import { judgeFor } from "../judges/judgeFor.ts";
import { labelledPairsOf, roundFeedback } from "../judges/labelledPairs.ts";
import {
  type Candidate,
  clinicianPair,
  heldOutKeys,
  judgedPair,
  lengthBias,
  type PairDecision,
} from "../pairs.ts";
import { type RoundStep, RoundStepError, roundDir } from "./stepContext.ts";

type Decision = PairDecision | { kind: "dropped"; reason: "too-long" | "judge-refused" };

/** The judge's agreement with the clinicians as a round stores it, and whether the round used the judge. */
type JudgeAgreementStats = JudgeAgreementReport & { used: boolean; reasons: string[] };

export const judgeCandidates: RoundStep = async (round, config, context) => {
  const { db, onProgress, signal } = context;
  const judgedPrompts = await roundFeedback(db, round.id);
  const prompts = judgedPrompts.map(({ prompt }) => prompt);
  const scores: { id: number; score: number | null }[] = [];
  const decisions = new Map<number, Decision>();
  let done = 0;
  let judgeName: string;
  let agreement: JudgeAgreementStats;
  {
    await using judge = await judgeFor(round, config, context);
    judgeName = judge.describe();
    // The judge first decides the pairs the clinicians labelled, their labels hidden from it.
    const labelled = labelledPairsOf(judgedPrompts);
    onProgress({
      roundId: round.id,
      step: "judging",
      message: `judge agreement on ${labelled.length} clinician pairs`,
    });
    const { verdicts: _, ...measured } = await measureAgreement(judge, labelled, {
      tieMargin: config.minMargin,
      resamples: config.judgeAgreement.resamples,
      seed: config.seed,
      signal,
    });
    agreement = { ...measured, ...agreementDecision(measured, config.judgeAgreement) };
    if (!agreement.used && config.judgeAgreement.onBelow === "fail") {
      throw new RoundStepError(
        `The judge ${judgeName} was not used: ${agreement.reasons.join("; ")} (judgeAgreement.onBelow is "fail").`,
      );
    }
    await mapConcurrent(
      judgedPrompts,
      2,
      async ({ prompt, candidates: rows, judgements: promptJudgements }) => {
        const candidates: Candidate[] = rows.map((row) => ({
          id: row.id,
          text: row.text,
          source: row.source as Candidate["source"],
          completionId: row.completionId,
        }));
        let decision: Decision | undefined = clinicianPair(candidates, promptJudgements);
        // A judge the clinicians' pairs refused decides nothing: the round trains on their pairs only.
        if (!decision && !agreement.used) decision = { kind: "dropped", reason: "judge-refused" };
        if (!decision) {
          try {
            const values = await judge.score(
              prompt.messages as ChatMessage[],
              candidates.map((candidate) => candidate.text),
              signal,
            );
            for (const [i, row] of rows.entries()) scores.push({ id: row.id, score: values[i]! });
            decision = judgedPair(candidates, values, promptJudgements, {
              judge: judge.name,
              minMargin: config.minMargin,
            });
          } catch (error) {
            if (!(error instanceof ContextLengthExceededError)) throw error;
            decision = { kind: "dropped", reason: "too-long" };
          }
        }
        decisions.set(prompt.id, decision);
        onProgress({ roundId: round.id, step: "judging", done: ++done, total: prompts.length });
      },
      signal,
    );
  }
  const kept = prompts.flatMap((prompt) => {
    const decision = decisions.get(prompt.id);
    return decision?.kind === "pair" ? [{ prompt, decision }] : [];
  });
  if (kept.length < 2) {
    throw new RoundStepError(
      `Only ${kept.length} preference pair(s) came out of ${prompts.length} prompt(s); a round needs at least 2 to train.`,
    );
  }
  const heldOut = heldOutKeys(
    kept.map(({ prompt }) => prompt.promptHash),
    { fraction: config.heldoutFraction, minHeldout: config.minHeldout, seed: config.seed },
  );
  const pairs: NewRoundPair[] = kept.map(({ prompt, decision }) => ({
    roundId: round.id,
    promptId: prompt.id,
    chosen: decision.chosen.text,
    rejected: decision.rejected.text,
    source: decision.source,
    margin: decision.margin,
    split: heldOut.has(prompt.promptHash) ? "heldout" : "train",
  }));
  const dataset = await writeSnapshot(roundDir(context.workDir, round), pairs, prompts);
  const dropped: Record<string, number> = {};
  for (const decision of decisions.values()) {
    if (decision.kind === "dropped") dropped[decision.reason] = (dropped[decision.reason] ?? 0) + 1;
  }
  const bySource: Record<string, number> = {};
  for (const pair of pairs) bySource[pair.source] = (bySource[pair.source] ?? 0) + 1;
  // Fine-tuning on corrections first, when the config asks for it and the round holds enough to learn from.
  const corrections = pairs.filter(
    (pair) => pair.source === "clinician-correction" && pair.split === "train",
  );
  const tune = config.sft.enabled && corrections.length >= config.sft.minCorrections;
  const bias = lengthBias(pairs);
  const warnings = [
    ...(bias.warning ? [bias.warning] : []),
    ...(config.sft.enabled && !tune
      ? [
          `No tuning step: ${corrections.length} training correction(s), fewer than sft.minCorrections (${config.sft.minCorrections}).`,
        ]
      : []),
    ...(agreement.used
      ? []
      : [
          `The judge was not used: ${agreement.reasons.join("; ")}; the round trains on clinician pairs only.`,
        ]),
  ];
  await storeJudgement(
    db,
    round.id,
    scores,
    pairs,
    {
      ...dataset,
      stats: {
        judged: {
          judge: judgeName,
          pairs: pairs.length,
          train: pairs.filter((pair) => pair.split === "train").length,
          heldout: pairs.filter((pair) => pair.split === "heldout").length,
          bySource,
          dropped,
          lengthBias: bias,
          agreement,
          margins: marginSummary(pairs),
        },
        ...(warnings.length > 0 ? { warnings } : {}),
      },
    },
    tune ? "tuning" : "training",
  );
};

/**
 * The judge's chosen − rejected margins over the pairs it decided (clinicians' own pairs have none): quartiles, so
 * that the dashboard can show them shrink or grow over rounds. Null when the judge decided no pair.
 */
function marginSummary(pairs: NewRoundPair[]): MarginSummary | null {
  const margins = pairs.flatMap((pair) =>
    pair.margin === null || pair.margin === undefined ? [] : [pair.margin],
  );
  if (margins.length === 0) return null;
  const sorted = Float64Array.from(margins).sort();
  const at = (p: number) => Math.round(quantile(sorted, p) * 1e6) / 1e6;
  return { n: margins.length, p25: at(0.25), p50: at(0.5), p75: at(0.75) };
}

/** The immutable JSON-lines snapshot the engine trains on, written whole before it takes its name. */
async function writeSnapshot(
  dir: string,
  pairs: NewRoundPair[],
  prompts: RoundPromptRow[],
): Promise<{ datasetPath: string; datasetSha256: string }> {
  const messagesOf = new Map(prompts.map((prompt) => [prompt.id, prompt.messages]));
  // A lone surrogate cannot be encoded as UTF-8 by the engine's tokenizer; llama.cpp already read it as U+FFFD.
  const wellFormed = (_key: string, value: unknown) =>
    typeof value === "string" ? value.toWellFormed() : value;
  const lines = pairs.map((pair) =>
    JSON.stringify(
      {
        conversation: messagesOf.get(pair.promptId),
        chosen: pair.chosen,
        rejected: pair.rejected,
        source: pair.source,
        margin: pair.margin,
        split: pair.split,
      },
      wellFormed,
    ),
  );
  await mkdir(dir, { recursive: true });
  const datasetPath = join(dir, "dataset.jsonl");
  await writeFile(`${datasetPath}.tmp`, `${lines.join("\n")}\n`);
  await rename(`${datasetPath}.tmp`, datasetPath);
  return { datasetPath, datasetSha256: await sha256OfFile(datasetPath) };
}
