// What every round step works with: the database, the round's folder, progress, the stop signal, and the
// loading of registered model versions.
import { join, resolve } from "node:path";
import type { Database } from "../../db/createDatabase.ts";
import { findModelVersion } from "../../db/modelVersions.ts";
import type { ModelVersionRow, RoundRow, RoundState } from "../../db/schema.ts";
import { sha256OfFile, verifyModelFile } from "../../inference/fileDigest.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";
import type { RoundConfig, ScorerConfig } from "../roundConfig.ts";
import { engineScorer } from "../scoring/engineScorer.ts";
import { RemoteScorer, remoteModelOf } from "../scoring/RemoteScorer.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import { ScoringEndpoint } from "../scoring/ScoringEndpoint.ts";

export type RoundProgress = {
  roundId: string;
  step: RoundState;
  /** Units done and to do within the step (prompts, training steps), when the step counts any. */
  done?: number;
  total?: number;
  message?: string;
};

/** A step cannot go on with what it has (too few prompts, no champion checkpoint...): the round fails. */
export class RoundStepError extends Error {
  override name = "RoundStepError";
}

export type StepContext = {
  db: Database;
  /** Where rounds keep their datasets, checkpoints and GGUFs (absolute). */
  workDir: string;
  onProgress: (progress: RoundProgress) => void;
  /** Stops the step between units of work; the round stays in its step and resumes later. */
  signal: AbortSignal;
  /** The environment the command was started with, for secrets a round config names (a judge's key variable). */
  env: Readonly<Record<string, string | undefined>>;
};

/** A step's work on the round it is in; it stores its output and moves the round on. */
export type RoundStep = (round: RoundRow, config: RoundConfig, context: StepContext) => Promise<void>;

export async function versionOf(db: Database, id: string): Promise<ModelVersionRow> {
  const version = await findModelVersion(db, id);
  if (!version) throw new RoundStepError(`Model version ${id} is not in the registry.`);
  return version;
}

export type EngineUse = { kvCache: "f16" | "f32"; cpuShare?: number };

/** The engine settings of a round's config: its threads, sequences and context, never refused as overloaded. */
export function engineOptions(
  config: RoundConfig,
  use: EngineUse,
): Omit<InferenceEngineOptions, "modelPath" | "modelName"> {
  return {
    parallel: config.inference.parallel,
    threads: config.inference.threads,
    contextSize: config.inference.contextSize,
    // The trainer queues its own work; it must never be refused as overloaded.
    maxQueue: 100_000,
    kvCache: use.kvCache,
    cpuShare: use.cpuShare,
    gpu: config.inference.gpu === "cpu" ? false : config.inference.gpu,
  };
}

/** Loads a registered version's GGUF after checking its sha256 against the registry. */
export async function loadVersion(
  version: ModelVersionRow,
  config: RoundConfig,
  use: EngineUse,
): Promise<InferenceEngine> {
  await verifyModelFile(version.ggufPath, version.ggufSha256);
  return InferenceEngine.load({
    ...engineOptions(config, use),
    modelPath: version.ggufPath,
    modelName: `${version.name}@v${version.version}`,
  });
}

/** The round config's scoring server, its key read from the variable it names; undefined without `scorer`. */
export function scoringEndpointOf(config: RoundConfig, env: StepContext["env"]): ScoringEndpoint | undefined {
  return config.scorer ? scoringEndpointFor(config.scorer, env) : undefined;
}

export function scoringEndpointFor(scorer: ScorerConfig, env: StepContext["env"]): ScoringEndpoint {
  const apiKey = scorer.apiKeyEnv ? env[scorer.apiKeyEnv] : undefined;
  if (scorer.apiKeyEnv && !apiKey) {
    throw new RoundStepError(`The scorer's key variable ${scorer.apiKeyEnv} is not set.`);
  }
  return new ScoringEndpoint({
    url: scorer.url,
    apiKey,
    parallel: scorer.parallel,
    timeoutMs: scorer.timeoutMs,
  });
}

/**
 * A version's scorer: on the round's scoring server when it has one (nothing to free), else its GGUF loaded
 * here (freed on dispose).
 */
export async function openVersionScorer(
  version: ModelVersionRow,
  config: RoundConfig,
  use: EngineUse & { endpoint: ScoringEndpoint | undefined; signal?: AbortSignal },
): Promise<Scorer & AsyncDisposable> {
  if (use.endpoint) {
    const scorer = await RemoteScorer.open(use.endpoint, remoteModelOf(version), use.signal);
    return Object.assign(scorer, { [Symbol.asyncDispose]: async () => {} });
  }
  const engine = await loadVersion(version, config, use);
  return { ...engineScorer(engine), [Symbol.asyncDispose]: () => engine[Symbol.asyncDispose]() };
}

/** The round's own folder under the work folder. */
export function roundDir(workDir: string, round: RoundRow): string {
  return join(
    resolve(workDir),
    `${round.modelName.replace(/[^\w.-]+/gu, "_")}-round-${round.number}-${round.id.slice(0, 8)}`,
  );
}

/** Seconds since `started` (a `performance.now()`), to the hundredth. */
export function secondsSince(started: number): number {
  return Math.round((performance.now() - started) / 10) / 100;
}

/** The round's dataset snapshot, checked against the sha256 it was recorded with. */
export async function checkedDataset(round: RoundRow): Promise<string> {
  if (!round.datasetPath || !round.datasetSha256)
    throw new RoundStepError("The round has no dataset snapshot.");
  const actual = await sha256OfFile(round.datasetPath);
  if (actual !== round.datasetSha256) {
    throw new RoundStepError(
      `The dataset snapshot ${round.datasetPath} changed since it was recorded (sha256 ${actual}).`,
    );
  }
  return round.datasetPath;
}
