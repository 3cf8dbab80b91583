// judging: clinician judgements first, the judge for the rest; pairs, their split, and the dataset snapshot.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  feedbackForCompletions,
  type NewRoundPair,
  roundCandidatesOf,
  roundPromptsOf,
  storeJudgement,
} from "../../db/rounds.ts";
import type { FeedbackRow, RoundPromptRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { groupBy, mapConcurrent } from "../concurrency.ts";
import { judgeFor } from "../judges/judgeFor.ts";
import {
  type Candidate,
  clinicianPair,
  heldOutKeys,
  type Judgement,
  judgedPair,
  lengthBias,
  type PairDecision,
} from "../pairs.ts";
import { type RoundStep, RoundStepError, roundDir } from "./stepContext.ts";

type Decision = PairDecision | { kind: "dropped"; reason: "too-long" };

export const judgeCandidates: RoundStep = async (round, config, context) => {
  const { db, onProgress, signal } = context;
  const prompts = await roundPromptsOf(db, round.id);
  const candidatesByPrompt = groupBy(await roundCandidatesOf(db, round.id), (row) => row.promptId);
  const judgements = groupBy(
    await feedbackForCompletions(
      db,
      prompts.flatMap((prompt) => prompt.completionIds),
    ),
    (row) => row.completionId,
  );
  const scores: { id: number; score: number | null }[] = [];
  const decisions = new Map<number, Decision>();
  let done = 0;
  let judgeName: string;
  {
    await using judge = await judgeFor(round, config, context);
    judgeName = judge.describe();
    await mapConcurrent(
      prompts,
      2,
      async (prompt) => {
        const rows = candidatesByPrompt.get(prompt.id) ?? [];
        const candidates: Candidate[] = rows.map((row) => ({
          id: row.id,
          text: row.text,
          source: row.source as Candidate["source"],
          completionId: row.completionId,
        }));
        const promptJudgements = prompt.completionIds.flatMap((id) =>
          (judgements.get(id) ?? []).map(toJudgement),
        );
        let decision: Decision | undefined = clinicianPair(candidates, promptJudgements);
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
  const bias = lengthBias(pairs);
  await storeJudgement(db, round.id, scores, pairs, {
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
      },
      ...(bias.warning ? { warnings: [bias.warning] } : {}),
    },
  });
};

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

function toJudgement(row: FeedbackRow): Judgement {
  return {
    id: row.id,
    completionId: row.completionId,
    kind: row.kind,
    rating: row.rating,
    ratingScale: row.ratingScale,
    correction: row.correction,
    otherCompletionId: row.otherCompletionId,
    preference: row.preference,
  };
}
