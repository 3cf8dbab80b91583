// training: DPO from the base checkpoint (or the tuning step's) on the snapshot's training pairs; metrics stored per
// step as they come.
import { join } from "node:path";
import { advanceRound, clearRoundMetrics, storeRoundMetrics } from "../../db/rounds.ts";
import { runDpo } from "../dpoEngine.ts";
import { checkedDataset, type RoundStep, roundDir, versionOf } from "./stepContext.ts";

export const trainPolicy: RoundStep = async (round, config, { db, workDir, onProgress, signal }) => {
  const datasetPath = await checkedDataset(round);
  const base = await versionOf(db, round.baseVersionId);
  // After a tuning step, DPO starts from its checkpoint, which is also DPO's reference (SFT, then DPO).
  const tuned = round.stats.tuned?.checkpointDir;
  await clearRoundMetrics(db, round.id);
  let total: number | undefined;
  const run = await runDpo({
    modelDir: tuned ?? base.hfDir!,
    datasetPath,
    outputDir: join(roundDir(workDir, round), "train"),
    dpo: config.dpo,
    signal,
    onStarted: ({ stepsPlanned }) => {
      total = stepsPlanned;
    },
    onMetrics: async ({ step, epoch, values }) => {
      await storeRoundMetrics(db, round.id, step, epoch, values);
      onProgress({ roundId: round.id, step: "training", done: step, total, message: lossText(values) });
    },
  });
  await advanceRound(db, round.id, "training", "converting", {
    stats: { trained: { ...run.summary, checkpointDir: run.checkpointDir } },
  });
};

function lossText(values: Record<string, number>): string {
  const parts = [];
  if (values.loss !== undefined) parts.push(`loss ${values.loss.toFixed(4)}`);
  if (values["rewards/accuracies"] !== undefined)
    parts.push(`acc ${values["rewards/accuracies"].toFixed(2)}`);
  if (values["rewards/margins"] !== undefined) parts.push(`margin ${values["rewards/margins"].toFixed(3)}`);
  return parts.join(" · ");
}
