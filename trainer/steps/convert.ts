// converting: GGUF of the merged checkpoint, then the candidate's registry row, in the same transaction as
// the round's new state.
import { join } from "node:path";
import type { Database } from "../../db/createDatabase.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { advanceRound, findRound } from "../../db/rounds.ts";
import { convertToGguf } from "../dpoEngine.ts";
import { type RoundStep, RoundStepError, roundDir, versionOf } from "./stepContext.ts";

export const convertCandidate: RoundStep = async (round, config, { db, workDir, onProgress, signal }) => {
  const trained = round.stats.trained as { checkpointDir?: string } | undefined;
  if (!trained?.checkpointDir) throw new RoundStepError("The round has no trained checkpoint to convert.");
  onProgress({ roundId: round.id, step: "converting", message: `GGUF ${config.ggufType}` });
  const gguf = await convertToGguf({
    hfDir: trained.checkpointDir,
    outfile: join(roundDir(workDir, round), `candidate.${config.ggufType}.gguf`),
    outtype: config.ggufType,
    modelName: `${round.modelName} round ${round.number}`,
    signal,
  });
  const base = await versionOf(db, round.baseVersionId);
  await db.transaction(async (tx) => {
    const txDb = tx as unknown as Database;
    const current = await findRound(txDb, round.id);
    if (current?.state !== "converting") return;
    const { checkpointDir: _, ...finalMetrics } = round.stats.trained as Record<string, unknown>;
    const version = await registerModelVersion(txDb, {
      name: round.modelName,
      parentId: base.id,
      roundId: round.id,
      hfDir: trained.checkpointDir!,
      ggufPath: gguf.path,
      ggufSha256: gguf.sha256,
      // Registered as the round enters the gate; the gate makes it `champion` or `rejected`.
      status: "evaluating",
      datasetSha256: round.datasetSha256,
      config: { dpo: config.dpo, ggufType: config.ggufType, judge: config.judge },
      metrics: finalMetrics,
    });
    await advanceRound(txDb, round.id, "converting", "evaluating", {
      candidateVersionId: version.id,
      stats: { converted: { ggufPath: gguf.path, ggufBytes: gguf.bytes, version: version.version } },
    });
  });
};
