// `medgate round run` and `medgate rounds list|show`: alignment rounds from the command line.
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { z } from "zod";
import type { DatabaseHandle } from "../db/createDatabase.ts";
import { findModelVersion } from "../db/modelVersions.ts";
import { findRoundByRef, listRounds, roundMetricsOf, roundPairsOf } from "../db/rounds.ts";
import type { RoundRow } from "../db/schema.ts";
import { createRoundFor, driveRound, resumableRound } from "../trainer/RoundRunner.ts";
import type { RoundConfigInput } from "../trainer/roundConfig.ts";
import { answerSummary } from "./answerSummary.ts";
import { appendCommandAudit } from "./commandAudit.ts";
import { defineCommand } from "./commandLine.ts";
import {
  ConfigError,
  type DatabaseConfig,
  databaseOptions,
  option,
  processEnvironment,
  roundOptions,
  telemetryOptions,
} from "./config.ts";
import { agreementTable } from "./judgeCommand.ts";
import { withDatabase } from "./openDatabase.ts";
import { ProgressLine } from "./progress.ts";
import { startTelemetry } from "./telemetry.ts";

/** Where a command that drives rounds keeps their work and reads their configuration. */
export type RoundsConfig = DatabaseConfig & { workDir: string; roundConfig?: string };

export async function readRoundConfig(path: string | undefined): Promise<RoundConfigInput> {
  if (!path) return {};
  try {
    return JSON.parse(await readFile(path, "utf8")) as RoundConfigInput;
  } catch (error) {
    throw new ConfigError(
      `Cannot read the round config ${path}: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/** Drives one round with a progress line; SIGINT/SIGTERM stop it between units of work, resumable later. */
export async function driveWithProgress(
  handle: DatabaseHandle,
  round: RoundRow,
  config: RoundsConfig,
): Promise<RoundRow> {
  const progress = new ProgressLine();
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("stopped by signal; run the same command again to resume"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const finished = await driveRound(round.id, {
      database: handle,
      workDir: config.workDir,
      env: processEnvironment(),
      signal: controller.signal,
      onProgress: ({ step, done, total, message }) => progress.update(step, done, total, message),
    });
    progress.end();
    return finished;
  } finally {
    progress.end();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

export function summary(round: RoundRow): string {
  const lines = [`round ${round.modelName}#${round.number} (${round.id}): ${round.state}`];
  if (round.error) lines.push(`  error: ${round.error}`);
  const { stats } = round;
  const { judged } = stats;
  if (judged)
    lines.push(
      `  pairs: ${judged.pairs} (train ${judged.train}, held out ${judged.heldout}) by ${judged.judge}`,
    );
  for (const warning of stats.warnings ?? []) lines.push(`  warning: ${warning}`);
  if (round.candidateVersionId) lines.push(`  candidate version: ${round.candidateVersionId}`);
  const { seconds } = stats;
  if (seconds) {
    lines.push(
      `  seconds: ${Object.entries(seconds)
        .map(([step, s]) => `${step} ${s}`)
        .join(", ")}`,
    );
  }
  return lines.join("\n");
}

export const roundCommand = defineCommand({
  usage: `Usage: medgate round run --model NAME [options]

Runs one alignment round for the served model NAME, or resumes its unfinished round: prompts logged
since the previous round → K candidates from the champion → judge (pairwise, or the previous round's
implicit reward) with clinician judgements first → preference pairs and a dataset snapshot → DPO
(TRL, LoRA) → merged checkpoint → GGUF → a registered candidate version → the benchmark gate. Each
step is stored before the next; a killed run resumes where it stopped. Exits 1 if the round failed.`,
  options: z.object({
    model: option(z.string({ error: "round run needs --model NAME" }).min(1), {
      help: "Served model name; it needs a registered champion with --hf-dir",
      value: "NAME",
      env: false,
    }),
    ...roundOptions,
    ...databaseOptions,
    ...telemetryOptions,
  }),
  positionals: true,
  async run({ model: modelName, ...config }, [action]) {
    if (action !== "run")
      throw new ConfigError('Usage: medgate round run --model NAME (see "medgate round --help").');
    await using _telemetry = startTelemetry(config);
    const roundConfig = await readRoundConfig(config.roundConfig);
    return withDatabase(config, async (db, handle) => {
      let round = await resumableRound(db, modelName);
      if (round) console.error(`medgate: resuming round ${modelName}#${round.number} at ${round.state}.`);
      else {
        round = await createRoundFor(db, { modelName, config: roundConfig, createdBy: `cli@${hostname()}` });
        console.error(`medgate: round ${modelName}#${round.number} started (${round.id}).`);
      }
      const finished = await driveWithProgress(handle, round, config);
      console.error(summary(finished));
      console.log(finished.id);
      return finished.state === "failed" ? 1 : 0;
    });
  },
});

export const roundsCommand = defineCommand({
  usage: `Usage:
  medgate rounds list [--model NAME]     rounds, newest first
  medgate rounds show ROUND              a round's state, pairs and training metrics
                                         (ROUND: its id, an id prefix, or NAME#N)`,
  options: z.object({
    model: option(z.string().min(1).optional(), {
      help: "With list: only this model's rounds",
      value: "NAME",
      env: false,
    }),
    ...databaseOptions,
  }),
  positionals: true,
  run: ({ model, ...config }, [action, ref]) => rounds(action, { model, ref }, config),
});

async function rounds(
  action: string | undefined,
  args: { model?: string; ref?: string },
  config: DatabaseConfig,
): Promise<void> {
  if (action === "list") {
    const rows = await withDatabase(config, (db) => listRounds(db, args.model));
    console.log(["id", "model", "number", "state", "pairs", "created", "error"].join("\t"));
    for (const row of rows) {
      const { judged } = row.stats;
      console.log(
        [
          row.id,
          row.modelName,
          row.number,
          row.state,
          judged?.pairs ?? "-",
          row.createdAt.toISOString(),
          row.error ?? "",
        ].join("\t"),
      );
    }
    return;
  }
  if (action === "show") {
    if (!args.ref) throw new ConfigError("rounds show needs a ROUND (its id, an id prefix, or NAME#N).");
    const ref = args.ref;
    const shown = await withDatabase(config, async (db) => {
      const round = await findRoundByRef(db, ref);
      if (!round) return undefined;
      // It prints the round's pairs: text from logged conversations and clinicians' corrections.
      await appendCommandAudit(db, "medgate rounds show", { query: { round: round.id, ref } });
      const [pairs, metrics, base, candidate] = await Promise.all([
        roundPairsOf(db, round.id),
        roundMetricsOf(db, round.id),
        findModelVersion(db, round.baseVersionId),
        round.candidateVersionId ? findModelVersion(db, round.candidateVersionId) : undefined,
      ]);
      return { round, pairs, metrics, base, candidate };
    });
    if (!shown) throw new ConfigError(`No round "${ref}".`);
    const { round, pairs, metrics, base, candidate } = shown;
    console.log(summary(round));
    console.log(`  base: ${base ? `${base.name} v${base.version}` : round.baseVersionId}`);
    if (candidate) console.log(`  candidate: ${candidate.name} v${candidate.version} ${candidate.ggufPath}`);
    console.log(`  window: ${round.since?.toISOString() ?? "start"} .. ${round.until.toISOString()}`);
    if (round.datasetPath) console.log(`  dataset: ${round.datasetPath} sha256 ${round.datasetSha256}`);
    if (round.errorDetail) console.log(`  engine stderr (tail):\n${round.errorDetail}`);
    console.log(`  stats: ${JSON.stringify(round.stats)}`);
    const agreement = round.stats.judged?.agreement;
    if (agreement) {
      const used = agreement.used === false ? `not used: ${(agreement.reasons ?? []).join("; ")}` : "used";
      console.log(`\njudge agreement with clinicians (${used}):`);
      console.log(agreementTable(agreement));
    }
    const gate = round.stats.gate;
    if (gate?.answers) {
      const versions = { champion: `v${gate.champion.version}`, candidate: `v${gate.candidate.version}` };
      console.log(`\n${answerSummary(gate.answers, versions)}`);
    }
    console.log(`\nmetrics (${metrics.length} steps):`);
    console.log(
      ["step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"].join(
        "\t",
      ),
    );
    for (const { step, values } of metrics) {
      const cell = (key: string) => (values[key] === undefined ? "-" : values[key].toFixed(4));
      console.log(
        [
          step,
          cell("loss"),
          cell("rewards/chosen"),
          cell("rewards/rejected"),
          cell("rewards/margins"),
          cell("rewards/accuracies"),
        ].join("\t"),
      );
    }
    console.log(`\npairs (${pairs.length}):`);
    for (const pair of pairs) {
      const short = (text: string) => JSON.stringify(text.length > 70 ? `${text.slice(0, 67)}...` : text);
      console.log(
        `  [${pair.split}] ${pair.source}${pair.margin === null ? "" : ` margin ${pair.margin.toFixed(3)}`}\n    chosen   ${short(pair.chosen)}\n    rejected ${short(pair.rejected)}`,
      );
    }
    return;
  }
  throw new ConfigError('Usage: medgate rounds list | show ROUND (see "medgate rounds --help").');
}
