// The driver of an alignment round: a step table over the schema's round states, run under the round's lock,
// each step storing its output and moving the round's state in one transaction (trainer/steps/).
import { resolve } from "node:path";
import { rejectCandidate } from "../db/championChanges.ts";
import type { Database, DatabaseHandle } from "../db/createDatabase.ts";
import { findChampion } from "../db/modelVersions.ts";
import {
  advanceRound,
  createRound,
  findRound,
  type finishedRoundStates,
  latestRound,
  unfinishedRounds,
} from "../db/rounds.ts";
import { type RoundRow, type RoundState, roundState } from "../db/schema.ts";
import { readProbeSet } from "./eval/probeSet.ts";
import { EngineScriptError } from "./pythonEngine.ts";
import { parseRoundConfig, type RoundConfigInput } from "./roundConfig.ts";
import { watchCanary } from "./steps/canary.ts";
import { collectPrompts } from "./steps/collect.ts";
import { convertCandidate } from "./steps/convert.ts";
import { gateCandidate } from "./steps/evaluate.ts";
import { judgeCandidates } from "./steps/judge.ts";
import { sampleCandidates } from "./steps/sample.ts";
import {
  type RoundProgress,
  type RoundStep,
  RoundStepError,
  type StepContext,
  secondsSince,
} from "./steps/stepContext.ts";
import { trainPolicy } from "./steps/train.ts";
import { tuneOnCorrections } from "./steps/tune.ts";
import { inSpan, recordRoundState, recordStep, roundAttributes } from "./telemetry.ts";

export { type RoundProgress, RoundStepError };

/** A state a trainer works in; a round ends in one of `finishedRoundStates`. */
export type TrainerStep = Exclude<RoundState, (typeof finishedRoundStates)[number]>;

/** The work of each trainer state; the compiler checks that every state of the schema's enum has one. */
const steps: Record<TrainerStep, RoundStep> = {
  collecting: collectPrompts,
  sampling: sampleCandidates,
  judging: judgeCandidates,
  tuning: tuneOnCorrections,
  training: trainPolicy,
  converting: convertCandidate,
  evaluating: gateCandidate,
  canary: watchCanary,
};

/** The trainer's states in the schema's order. */
export const trainerSteps: readonly TrainerStep[] = roundState.enumValues.filter(
  (state): state is TrainerStep => state in steps,
);

const isTrainerStep = (state: RoundState): state is TrainerStep => state in steps;

/** Another trainer holds the round's lock. */
export class RoundBusyError extends Error {
  override name = "RoundBusyError";
  constructor(readonly roundId: string) {
    super(`Round ${roundId} is being run by another trainer.`);
  }
}

export type RoundRunnerOptions = {
  database: DatabaseHandle;
  /** Where rounds keep their datasets, checkpoints and GGUFs. Default: .medgate/rounds */
  workDir?: string;
  onProgress?: (progress: RoundProgress) => void;
  /** Stops the round between units of work; it stays in its step and resumes later. */
  signal?: AbortSignal;
  /** The environment, for secrets a round config names (a judge endpoint's key variable). Default: none */
  env?: Readonly<Record<string, string | undefined>>;
};

/**
 * Creates a round for `modelName` from its champion, covering the prompts logged since the previous round.
 * The judge `auto` is resolved here: the implicit reward when the champion came out of a round (it has a
 * parent to be the reference), pairwise otherwise.
 */
export async function createRoundFor(
  db: Database,
  options: { modelName: string; config?: RoundConfigInput; createdBy: string; until?: Date },
): Promise<RoundRow> {
  const config = parseRoundConfig(options.config ?? {});
  const champion = await findChampion(db, options.modelName);
  if (!champion) {
    throw new RoundStepError(
      `"${options.modelName}" has no champion in the model registry; register one with \`medgate models register\`.`,
    );
  }
  if (!champion.hfDir) {
    throw new RoundStepError(
      `The champion of "${options.modelName}" (version ${champion.version}) has no Hugging Face checkpoint to train from; register it with --hf-dir.`,
    );
  }
  if (config.judge === "auto") config.judge = champion.parentId ? "implicit-reward" : "pairwise";
  if (config.judge === "implicit-reward" && !champion.parentId) {
    throw new RoundStepError(
      `The implicit-reward judge needs a champion trained by a previous round (it is π_k, its parent π_ref); version ${champion.version} of "${options.modelName}" has no parent.`,
    );
  }
  // A probe set the gate could not read refuses the round now, not after its training.
  for (const set of config.gate.answers.enabled ? config.gate.answers.probeSets : []) {
    if (!set.path) continue;
    await readProbeSet(set.path).catch((error: Error) => {
      throw new RoundStepError(error.message);
    });
  }
  const previous = await latestRound(db, options.modelName);
  return createRound(db, {
    modelName: options.modelName,
    baseVersionId: champion.id,
    config: config as unknown as Record<string, unknown>,
    since: previous?.until ?? null,
    until: options.until ?? new Date(),
    createdBy: options.createdBy,
  });
}

/** The round of `modelName` a trainer should continue, if one was left in a trainer step. */
export async function resumableRound(db: Database, modelName: string): Promise<RoundRow | undefined> {
  const rows = await unfinishedRounds(db, modelName);
  return rows.find((row) => isTrainerStep(row.state));
}

/**
 * Drives a round from whatever step it is in up to `evaluating` (or a finished state). Holds the round's
 * advisory lock throughout; a step that fails marks the round `failed` with the error (and the engine's
 * stderr tail), and leaves the champion as it was.
 */
export async function driveRound(roundId: string, options: RoundRunnerOptions): Promise<RoundRow> {
  const { database } = options;
  const lock = await database.tryAdvisoryLock(`medgate:round:${roundId}`);
  if (!lock) throw new RoundBusyError(roundId);
  const controller = new AbortController();
  const signals = [lock.lost, ...(options.signal ? [options.signal] : [])];
  const onStop = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  for (const signal of signals) signal.addEventListener("abort", onStop, { once: true });
  const context = {
    db: database.db,
    workDir: resolve(options.workDir ?? ".medgate/rounds"),
    onProgress: options.onProgress ?? (() => {}),
    signal: controller.signal,
    env: options.env ?? {},
  };
  const first = await findRound(database.db, roundId);
  try {
    if (!first) throw new Error(`No round ${roundId}.`);
    return await inSpan(`round ${first.modelName}#${first.number}`, roundAttributes(first), () =>
      driveSteps(roundId, options, context, controller.signal),
    );
  } finally {
    for (const signal of signals) signal.removeEventListener("abort", onStop);
    await lock[Symbol.asyncDispose]();
  }
}

/** Runs step after step, each in its span, until the round leaves the trainer's states. */
async function driveSteps(
  roundId: string,
  options: RoundRunnerOptions,
  context: StepContext,
  stopped: AbortSignal,
): Promise<RoundRow> {
  const { database } = options;
  for (;;) {
    const round = await findRound(database.db, roundId);
    if (!round) throw new Error(`No round ${roundId}.`);
    if (!isTrainerStep(round.state)) return round;
    const started = performance.now();
    options.onProgress?.({ roundId, step: round.state });
    try {
      const step = steps[round.state];
      await inSpan(
        `round step ${round.state}`,
        { ...roundAttributes(round), "medgate.round.step": round.state },
        () => step(round, parseRoundConfig(round.config), context),
      );
    } catch (error) {
      if (stopped.aborted) throw stopped.reason ?? error;
      // A canary's look that failed (the database away) fails nothing: the canary runs on, the next look retries.
      if (round.state === "canary") throw error;
      const message = `${round.state}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
      await database.db.transaction(async (tx) => {
        const txDb = tx as unknown as Database;
        // A candidate whose gate could not run is never promoted: it is rejected with the reason.
        if (round.state === "evaluating" && round.candidateVersionId) {
          await rejectCandidate(txDb, round.candidateVersionId, {
            actor: `trainer (round ${round.modelName}#${round.number})`,
            reason: `the gate could not run: ${message}`,
            roundId: round.id,
          });
        }
        await advanceRound(txDb, roundId, round.state, "failed", {
          error: message,
          errorDetail: error instanceof EngineScriptError ? error.stderrTail : null,
          stats: { failedStep: round.state },
        });
      });
      recordRoundState(round, "failed");
      return (await findRound(database.db, roundId))!;
    }
    const seconds = secondsSince(started);
    const current = await findRound(database.db, roundId);
    await advanceRound(database.db, roundId, current!.state, current!.state, {
      stats: {
        seconds: { ...current!.stats.seconds, [round.state]: seconds },
      },
    });
    recordStep(round, round.state, seconds, current!.state);
  }
}
