// `medgate trainer`: runs alignment rounds as a service when enough new prompts arrive, or on a schedule.
import { hostname } from "node:os";
import { z } from "zod";
import { countNewPrompts, latestRound } from "../db/rounds.ts";
import { createRoundFor, RoundBusyError, resumableRound } from "../trainer/RoundRunner.ts";
import { defineCommand } from "./commandLine.ts";
import { databaseOptions, durationMs, option, roundOptions, telemetryOptions } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";
import { driveWithProgress, readRoundConfig, summary } from "./roundCommand.ts";
import { startTelemetry } from "./telemetry.ts";

const trainerOptions = z.object({
  model: option(z.array(z.string().min(1)).min(1, "trainer needs at least one --model NAME"), {
    help: "Served model name",
    value: "NAME",
    env: false,
  }),
  minNewPrompts: option(z.coerce.number().int().positive().default(200), {
    help: "New distinct prompts that start a round",
    value: "N",
  }),
  every: option(
    z
      .string()
      .regex(/^\d+(s|m|h|d)$/u, "must be a duration such as 30m, 12h or 7d")
      .optional(),
    { help: "Also start a round this often if any prompt is new (30m, 12h, 7d)", value: "DURATION" },
  ),
  poll: option(
    z
      .string()
      .regex(/^\d+(s|m|h)$/u, "must be a duration such as 30s or 5m")
      .default("60s"),
    { help: "How often to check", value: "DURATION" },
  ),
  ...roundOptions,
  ...databaseOptions,
  ...telemetryOptions,
});

export const trainerCommand = defineCommand({
  usage: `Usage: medgate trainer --model NAME [--model NAME2 ...] [options]

Runs as a service: resumes unfinished rounds, and starts a round for a model when enough new prompts
have been logged since its last round, or on a schedule. Stops on SIGINT/SIGTERM (a round in progress
stops between units of work and resumes at the next start). On the embedded database (PGlite) the
folder belongs to one process: stop \`medgate serve\` first, or use PostgreSQL so that gateways and the
trainer share it.`,
  options: trainerOptions,
  async run({ model, ...config }) {
    await using _telemetry = startTelemetry(config);
    return trainer(model, config);
  },
});

/**
 * Resumes unfinished rounds, then starts a round for a model whenever enough new prompts arrived (or the
 * schedule says so and any arrived), until SIGINT/SIGTERM.
 */
async function trainer(
  models: string[],
  config: Omit<z.infer<typeof trainerOptions>, "model">,
): Promise<number> {
  const roundConfig = await readRoundConfig(config.roundConfig);
  const pollMs = durationMs(config.poll);
  const everyMs = config.every ? durationMs(config.every) : undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return withDatabase(config, async (db, handle) => {
    console.error(
      `medgate: trainer watching ${models.join(", ")} (a round at ${config.minNewPrompts} new prompts${everyMs ? ` or every ${config.every}` : ""}; polling every ${config.poll}).`,
    );
    while (!stopping) {
      for (const modelName of models) {
        if (stopping) break;
        try {
          let round = await resumableRound(db, modelName);
          if (!round) {
            const previous = await latestRound(db, modelName);
            const fresh = await countNewPrompts(db, modelName, previous?.until ?? null);
            const due =
              fresh >= config.minNewPrompts ||
              (everyMs !== undefined &&
                fresh > 0 &&
                Date.now() - (previous?.createdAt.getTime() ?? 0) >= everyMs);
            if (!due) continue;
            round = await createRoundFor(db, {
              modelName,
              config: roundConfig,
              createdBy: `trainer@${hostname()}`,
            });
            console.error(`medgate: round ${modelName}#${round.number} started with ${fresh} new prompt(s).`);
          }
          const finished = await driveWithProgress(handle, round, config);
          console.error(summary(finished));
        } catch (error) {
          if (error instanceof RoundBusyError) continue;
          if (stopping) break;
          console.error(`medgate: trainer: ${modelName}: ${error instanceof Error ? error.message : error}`);
        }
      }
      if (stopping) break;
      await new Promise<void>((done) => {
        wake = done;
        setTimeout(done, pollMs);
      });
    }
    console.error("medgate: trainer stopped.");
    return 0;
  });
}
