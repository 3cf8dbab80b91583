// tuning: supervised fine-tuning on the round's training corrections (TRL's SFTTrainer, loss on the answer's tokens
// only) before DPO; the loss curve and the checkpoint DPO then starts from go in the round's stats.
import { join } from "node:path";
import { advanceRound } from "../../db/rounds.ts";
import { runSft } from "../dpoEngine.ts";
import { checkedDataset, type RoundStep, roundDir, versionOf } from "./stepContext.ts";

export const tuneOnCorrections: RoundStep = async (round, config, { db, workDir, onProgress, signal }) => {
  const datasetPath = await checkedDataset(round);
  const base = await versionOf(db, round.baseVersionId);
  const curve: { step: number; epoch: number | null; loss: number }[] = [];
  let total: number | undefined;
  const run = await runSft({
    modelDir: base.hfDir!,
    datasetPath,
    outputDir: join(roundDir(workDir, round), "sft"),
    sft: config.sft,
    dpo: config.dpo,
    signal,
    onStarted: ({ stepsPlanned }) => {
      total = stepsPlanned;
    },
    onMetrics: async ({ step, epoch, values }) => {
      if (values.loss === undefined) return;
      curve.push({ step, epoch, loss: values.loss });
      onProgress({
        roundId: round.id,
        step: "tuning",
        done: step,
        total,
        message: `loss ${values.loss.toFixed(4)}`,
      });
    },
  });
  // A rerun after a crash starts the step over: only a finished run's curve and checkpoint are stored.
  await advanceRound(db, round.id, "tuning", "training", {
    stats: { tuned: { ...run.summary, checkpointDir: run.checkpointDir, curve } },
  });
};
