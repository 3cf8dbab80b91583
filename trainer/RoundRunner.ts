// One alignment round, step by step: each step stores its output and moves the round's state in one transaction.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { makeChampion, rejectCandidate } from "../db/championChanges.ts";
import type { Database, DatabaseHandle } from "../db/createDatabase.ts";
import { findChampion, findModelVersion, registerModelVersion } from "../db/modelVersions.ts";
import { promptHashOf } from "../db/promptHash.ts";
import {
  advanceRound,
  clearRoundMetrics,
  completionsForRound,
  completionTexts,
  createRound,
  feedbackForCompletions,
  findRound,
  latestRound,
  type NewRoundCandidate,
  type NewRoundPair,
  roundCandidatesOf,
  roundPairsOf,
  roundPromptsOf,
  storeCandidates,
  storeJudgement,
  storeRoundMetrics,
  storeRoundPrompts,
  unfinishedRounds,
} from "../db/rounds.ts";
import type { FeedbackRow, ModelVersionRow, RoundRow, RoundState } from "../db/schema.ts";
import type { ChatMessage } from "../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../inference/errors.ts";
import { sha256OfFile, verifyModelFile } from "../inference/fileDigest.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../inference/InferenceEngine.ts";
import { groupBy, mapConcurrent } from "./concurrency.ts";
import { convertToGguf, runDpo } from "./dpoEngine.ts";
import {
  defaultSuitePath,
  evalResultsOf,
  findFinishedRun,
  runEvaluation,
  suiteItems,
} from "./eval/evalRun.ts";
import { decideGate } from "./eval/gatePolicy.ts";
import { pairResults } from "./eval/pairResults.ts";
import { defaultSafetySetPath, readSafetySet, scoreSafetySet } from "./eval/safetySet.ts";
import { implicitRewardJudge } from "./judges/implicitReward.ts";
import { endpointVerdicts, localVerdicts, pairwiseJudge } from "./judges/pairwise.ts";
import type { Judge } from "./judges/types.ts";
import {
  type Candidate,
  clinicianPair,
  heldOutKeys,
  type Judgement,
  judgedPair,
  lengthBias,
  type PairDecision,
} from "./pairs.ts";
import { EngineScriptError } from "./pythonEngine.ts";
import { parseRoundConfig, type RoundConfig, type RoundConfigInput } from "./roundConfig.ts";

/** The states a trainer drives, in order; a round ends `promoted`, `rejected` or `failed`. */
export const trainerSteps = [
  "collecting",
  "sampling",
  "judging",
  "training",
  "converting",
  "evaluating",
] as const;
export type TrainerStep = (typeof trainerSteps)[number];

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
  return rows.find((row) => (trainerSteps as readonly string[]).includes(row.state));
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
  try {
    const step = new RoundSteps(database.db, { ...options, signal: controller.signal });
    for (;;) {
      const round = await findRound(database.db, roundId);
      if (!round) throw new Error(`No round ${roundId}.`);
      if (!(trainerSteps as readonly string[]).includes(round.state)) return round;
      const started = performance.now();
      options.onProgress?.({ roundId, step: round.state });
      try {
        await step.run(round);
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason ?? error;
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
        return (await findRound(database.db, roundId))!;
      }
      const seconds = secondsSince(started);
      const current = await findRound(database.db, roundId);
      await advanceRound(database.db, roundId, current!.state, current!.state, {
        stats: {
          seconds: { ...((current!.stats.seconds as Record<string, number>) ?? {}), [round.state]: seconds },
        },
      });
    }
  } finally {
    for (const signal of signals) signal.removeEventListener("abort", onStop);
    await lock[Symbol.asyncDispose]();
  }
}

/** Seconds since `started` (a `performance.now()`), to the hundredth. */
function secondsSince(started: number): number {
  return Math.round((performance.now() - started) / 10) / 100;
}

/** The work of each trainer step. */
class RoundSteps {
  readonly #db: Database;
  readonly #workDir: string;
  readonly #onProgress: (progress: RoundProgress) => void;
  readonly #signal: AbortSignal;

  constructor(db: Database, options: RoundRunnerOptions & { signal: AbortSignal }) {
    this.#db = db;
    this.#workDir = resolve(options.workDir ?? ".medgate/rounds");
    this.#onProgress = options.onProgress ?? (() => {});
    this.#signal = options.signal;
  }

  async run(round: RoundRow): Promise<void> {
    const config = parseRoundConfig(round.config);
    switch (round.state as TrainerStep) {
      case "collecting":
        return this.#collect(round, config);
      case "sampling":
        return this.#sample(round, config);
      case "judging":
        return this.#judge(round, config);
      case "training":
        return this.#train(round, config);
      case "converting":
        return this.#convert(round, config);
      case "evaluating":
        return this.#evaluate(round, config);
    }
  }

  /** Finished, stored completions in the round's window, deduplicated by conversation, newest first. */
  async #collect(round: RoundRow, config: RoundConfig): Promise<void> {
    const rows = await completionsForRound(this.#db, {
      modelName: round.modelName,
      since: round.since,
      until: round.until,
    });
    const byHash = new Map<string, { messages: ChatMessage[]; completionIds: string[] }>();
    for (const row of rows) {
      // The stored hash is of the request as received; the round's own hash normalizes the messages again.
      const hash = row.promptHash || promptHashOf(row.messages as ChatMessage[]);
      const entry = byHash.get(hash);
      if (entry) entry.completionIds.push(row.id);
      else if (byHash.size < config.maxPrompts) {
        byHash.set(hash, { messages: row.messages as ChatMessage[], completionIds: [row.id] });
      }
    }
    if (byHash.size < config.minPrompts) {
      throw new RoundStepError(
        `Only ${byHash.size} new prompt(s) of "${round.modelName}" since ${round.since?.toISOString() ?? "the start"}; a round needs at least ${config.minPrompts}.`,
      );
    }
    await storeRoundPrompts(
      this.#db,
      round.id,
      [...byHash].map(([promptHash, entry]) => ({ promptHash, ...entry })),
      { collected: { completions: rows.length, prompts: byHash.size } },
    );
  }

  /** K samples per prompt from the champion, plus the logged answers and corrections clinicians gave. */
  async #sample(round: RoundRow, config: RoundConfig): Promise<void> {
    const prompts = await roundPromptsOf(this.#db, round.id);
    const stored = new Set((await roundCandidatesOf(this.#db, round.id)).map((row) => row.promptId));
    const allIds = prompts.flatMap((prompt) => prompt.completionIds);
    const judgements = await feedbackForCompletions(this.#db, allIds);
    const judged = new Set(judgements.flatMap((row) => [row.completionId, row.otherCompletionId ?? ""]));
    const texts = await completionTexts(this.#db, [...judged].filter(Boolean));
    const base = await this.#version(round.baseVersionId);
    const engine = await this.#loadEngine(base, config, { kvCache: "f16" });
    let done = stored.size;
    let skipped = 0;
    try {
      const todo = prompts.filter((prompt) => !stored.has(prompt.id));
      this.#onProgress({ roundId: round.id, step: "sampling", done, total: prompts.length });
      await mapConcurrent(
        todo,
        engine.info.parallel,
        async (prompt) => {
          const rows: NewRoundCandidate[] = [];
          for (let i = 0; i < config.candidates; i++) {
            const seed = config.seed * 1_000_003 + prompt.id * 101 + i;
            let stream: Awaited<ReturnType<InferenceEngine["startChat"]>>;
            try {
              stream = await engine.startChat(
                {
                  messages: prompt.messages as ChatMessage[],
                  maxTokens: config.maxTokens,
                  sampling: { temperature: config.temperature, topP: config.topP },
                  seed,
                },
                this.#signal,
              );
            } catch (error) {
              if (error instanceof ContextLengthExceededError) {
                skipped++;
                return;
              }
              throw error;
            }
            for await (const _ of stream) {
              // The whole text is read from the result.
            }
            const result = await stream.result;
            rows.push({
              roundId: round.id,
              promptId: prompt.id,
              index: i,
              source: "sampled",
              text: result.text,
              seed,
              finishReason: result.finishReason,
            });
          }
          for (const candidate of loggedCandidates(prompt.completionIds, judgements, texts)) {
            rows.push({ roundId: round.id, promptId: prompt.id, index: rows.length, ...candidate });
          }
          await storeCandidates(this.#db, rows);
          done++;
          this.#onProgress({ roundId: round.id, step: "sampling", done, total: prompts.length });
        },
        this.#signal,
      );
    } finally {
      await engine[Symbol.asyncDispose]();
    }
    const candidates = await roundCandidatesOf(this.#db, round.id);
    await advanceRound(this.#db, round.id, "sampling", "judging", {
      stats: { sampled: { candidates: candidates.length, skippedTooLong: skipped } },
    });
  }

  /** Scores candidates, applies clinician judgements, builds pairs and writes the dataset snapshot. */
  async #judge(round: RoundRow, config: RoundConfig): Promise<void> {
    const prompts = await roundPromptsOf(this.#db, round.id);
    const candidatesByPrompt = groupBy(await roundCandidatesOf(this.#db, round.id), (row) => row.promptId);
    const judgements = groupBy(
      await feedbackForCompletions(
        this.#db,
        prompts.flatMap((prompt) => prompt.completionIds),
      ),
      (row) => row.completionId,
    );
    const { judge, dispose } = await this.#judgeFor(round, config);
    const scores: { id: number; score: number | null }[] = [];
    const decisions = new Map<number, PairDecision | { kind: "dropped"; reason: "too-long" }>();
    let done = 0;
    try {
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
          let decision: PairDecision | { kind: "dropped"; reason: "too-long" } | undefined = clinicianPair(
            candidates,
            promptJudgements,
          );
          if (!decision) {
            try {
              const values = await judge.score(
                prompt.messages as ChatMessage[],
                candidates.map((candidate) => candidate.text),
                this.#signal,
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
          this.#onProgress({ roundId: round.id, step: "judging", done: ++done, total: prompts.length });
        },
        this.#signal,
      );
    } finally {
      await dispose();
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
    const dir = this.#roundDir(round);
    await mkdir(dir, { recursive: true });
    const datasetPath = join(dir, "dataset.jsonl");
    await writeFile(`${datasetPath}.tmp`, `${lines.join("\n")}\n`);
    await rename(`${datasetPath}.tmp`, datasetPath);
    const datasetSha256 = await sha256OfFile(datasetPath);
    const dropped: Record<string, number> = {};
    for (const decision of decisions.values()) {
      if (decision.kind === "dropped") dropped[decision.reason] = (dropped[decision.reason] ?? 0) + 1;
    }
    const bySource: Record<string, number> = {};
    for (const pair of pairs) bySource[pair.source] = (bySource[pair.source] ?? 0) + 1;
    const bias = lengthBias(pairs);
    await storeJudgement(this.#db, round.id, scores, pairs, {
      datasetPath,
      datasetSha256,
      stats: {
        judged: {
          judge: judge.describe(),
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
  }

  /** DPO from the base checkpoint on the snapshot's training pairs; metrics stored per step as they come. */
  async #train(round: RoundRow, config: RoundConfig): Promise<void> {
    if (!round.datasetPath || !round.datasetSha256)
      throw new RoundStepError("The round has no dataset snapshot.");
    const actual = await sha256OfFile(round.datasetPath);
    if (actual !== round.datasetSha256) {
      throw new RoundStepError(
        `The dataset snapshot ${round.datasetPath} changed since it was recorded (sha256 ${actual}).`,
      );
    }
    const base = await this.#version(round.baseVersionId);
    await clearRoundMetrics(this.#db, round.id);
    let total: number | undefined;
    const run = await runDpo({
      modelDir: base.hfDir!,
      datasetPath: round.datasetPath,
      outputDir: join(this.#roundDir(round), "train"),
      dpo: config.dpo,
      signal: this.#signal,
      onStarted: ({ stepsPlanned }) => {
        total = stepsPlanned;
      },
      onMetrics: async ({ step, epoch, values }) => {
        await storeRoundMetrics(this.#db, round.id, step, epoch, values);
        this.#onProgress({
          roundId: round.id,
          step: "training",
          done: step,
          total,
          message: lossText(values),
        });
      },
    });
    await advanceRound(this.#db, round.id, "training", "converting", {
      stats: { trained: { ...run.summary, checkpointDir: run.checkpointDir } },
    });
  }

  /** GGUF of the merged checkpoint, then the candidate's registry row, in the same transaction as the state. */
  async #convert(round: RoundRow, config: RoundConfig): Promise<void> {
    const trained = round.stats.trained as { checkpointDir?: string } | undefined;
    if (!trained?.checkpointDir) throw new RoundStepError("The round has no trained checkpoint to convert.");
    this.#onProgress({ roundId: round.id, step: "converting", message: `GGUF ${config.ggufType}` });
    const gguf = await convertToGguf({
      hfDir: trained.checkpointDir,
      outfile: join(this.#roundDir(round), `candidate.${config.ggufType}.gguf`),
      outtype: config.ggufType,
      modelName: `${round.modelName} round ${round.number}`,
      signal: this.#signal,
    });
    const base = await this.#version(round.baseVersionId);
    await this.#db.transaction(async (tx) => {
      const txDb = tx as unknown as Database;
      const current = await findRound(txDb, round.id);
      if (current?.state !== "converting") return;
      const finalMetrics = lastMetrics(round.stats.trained as Record<string, unknown>);
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
  }

  /**
   * The gate: candidate and champion on the same benchmark questions, the safety set, and the candidate's
   * held-out preference accuracy; the decision, its report and the promotion or rejection are stored with
   * the round's new state in one transaction.
   */
  async #evaluate(round: RoundRow, config: RoundConfig): Promise<void> {
    const candidate = await this.#version(round.candidateVersionId!);
    const champion = await findChampion(this.#db, round.modelName);
    if (!champion) throw new RoundStepError(`"${round.modelName}" has no champion to gate against.`);
    const gate = config.gate;
    const settings = {
      shots: gate.shots,
      format: gate.format,
      continuation: gate.continuation,
      limit: gate.limit,
    };
    const suitePath = gate.suite ?? defaultSuitePath;
    const engine = this.#engineOptions(config, { kvCache: "f32" });
    const items = await suiteItems(suitePath, settings);
    const evaluate = async (version: ModelVersionRow, label: string) => {
      const reused = await findFinishedRun(this.#db, version.id, items.suite.name, settings);
      if (reused) return reused;
      return runEvaluation(this.#db, {
        version,
        suitePath,
        items,
        settings,
        engine,
        signal: this.#signal,
        onProgress: ({ done, total }) =>
          this.#onProgress({ roundId: round.id, step: "evaluating", done, total, message: label }),
      });
    };
    const seconds: Record<string, number> = {};
    const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        seconds[name] = secondsSince(started);
      }
    };
    const championRun = await timed("champion", () => evaluate(champion, `champion v${champion.version}`));
    const candidateRun = await timed("candidate", () =>
      evaluate(candidate, `candidate v${candidate.version}`),
    );
    const [championResults, candidateResults] = await Promise.all([
      evalResultsOf(this.#db, championRun.id),
      evalResultsOf(this.#db, candidateRun.id),
    ]);
    const benchmarks = pairResults(candidateResults, championResults);

    this.#onProgress({ roundId: round.id, step: "evaluating", message: "safety set and held-out pairs" });
    const safetyItems = await readSafetySet(gate.safetySet ?? defaultSafetySetPath);
    const base = await this.#version(round.baseVersionId);
    // Two engines compute at once (candidate with champion, then with the reference): they share the cores.
    const shared = { kvCache: "f32", cpuShare: 2 } as const;
    const candidateEngine = await this.#loadEngine(candidate, config, shared);
    let safety: { id: string; candidatePassed: boolean; championPassed: boolean }[];
    let heldoutPreferenceAccuracy: number | null;
    try {
      const championEngine = await this.#loadEngine(champion, config, shared);
      try {
        const [candidateSafety, championSafety] = await timed("safety", () =>
          Promise.all([
            scoreSafetySet(candidateEngine, safetyItems),
            scoreSafetySet(championEngine, safetyItems),
          ]),
        );
        safety = candidateSafety.map((result, i) => ({
          id: result.id,
          candidatePassed: result.passed,
          championPassed: championSafety[i]!.passed,
        }));
        const referenceEngine =
          base.id === champion.id ? championEngine : await this.#loadEngine(base, config, shared);
        try {
          heldoutPreferenceAccuracy = await timed("heldout", () =>
            this.#heldoutAccuracy(round, candidateEngine, referenceEngine, config),
          );
        } finally {
          if (referenceEngine !== championEngine) await referenceEngine[Symbol.asyncDispose]();
        }
      } finally {
        await championEngine[Symbol.asyncDispose]();
      }
    } finally {
      await candidateEngine[Symbol.asyncDispose]();
    }
    const report = {
      ...decideGate({ policy: gate.policy, benchmarks, heldoutPreferenceAccuracy, safety }),
      suite: candidateRun.suite,
      settings,
      policy: gate.policy,
      candidate: { versionId: candidate.id, version: candidate.version, evalRunId: candidateRun.id },
      champion: { versionId: champion.id, version: champion.version, evalRunId: championRun.id },
      /** Seconds spent scoring each model on the suite (0 when a finished run was reused), the safety set, held-out pairs. */
      seconds,
    };
    await this.#db.transaction(async (tx) => {
      const txDb = tx as unknown as Database;
      const current = await findRound(txDb, round.id);
      if (current?.state !== "evaluating") return;
      const actor = `trainer (round ${round.modelName}#${round.number})`;
      const gateReport = report as unknown as Record<string, unknown>;
      if (report.passed) {
        await makeChampion(txDb, candidate.id, {
          kind: "promote",
          actor,
          reason: "passed the benchmark gate",
          roundId: round.id,
          gateReport,
        });
      } else {
        await rejectCandidate(txDb, candidate.id, {
          actor,
          reason: `failed the benchmark gate: ${report.reasons.join("; ")}`,
          roundId: round.id,
          gateReport,
        });
      }
      await advanceRound(txDb, round.id, "evaluating", report.passed ? "promoted" : "rejected", {
        stats: { gate: gateReport },
      });
    });
  }

  /** Share of held-out pairs whose chosen answer gets the higher implicit reward under the candidate. */
  async #heldoutAccuracy(
    round: RoundRow,
    candidate: InferenceEngine,
    reference: InferenceEngine,
    config: RoundConfig,
  ): Promise<number | null> {
    const pairs = (await roundPairsOf(this.#db, round.id)).filter((pair) => pair.split === "heldout");
    if (pairs.length === 0) return null;
    const prompts = new Map((await roundPromptsOf(this.#db, round.id)).map((prompt) => [prompt.id, prompt]));
    const judge = implicitRewardJudge({ policy: candidate, reference, beta: config.dpo.beta });
    const right = await mapConcurrent(pairs, candidate.info.parallel, async (pair) => {
      const messages = prompts.get(pair.promptId)!.messages as ChatMessage[];
      const [chosen, rejected] = await judge.score(messages, [pair.chosen, pair.rejected], this.#signal);
      return chosen! > rejected!;
    });
    return right.filter(Boolean).length / pairs.length;
  }

  async #judgeFor(
    round: RoundRow,
    config: RoundConfig,
  ): Promise<{ judge: Judge; dispose: () => Promise<void> }> {
    const base = await this.#version(round.baseVersionId);
    if (config.judge === "implicit-reward") {
      if (!base.parentId)
        throw new RoundStepError("The implicit-reward judge needs a champion with a parent.");
      const parent = await this.#version(base.parentId);
      const policy = await this.#loadEngine(base, config, { kvCache: "f32", cpuShare: 2 });
      const reference = await this.#loadEngine(parent, config, { kvCache: "f32", cpuShare: 2 }).catch(
        async (error) => {
          await policy[Symbol.asyncDispose]();
          throw error;
        },
      );
      return {
        judge: implicitRewardJudge({ policy, reference, beta: config.rewardBeta ?? config.dpo.beta }),
        dispose: async () => {
          await Promise.all([policy[Symbol.asyncDispose](), reference[Symbol.asyncDispose]()]);
        },
      };
    }
    const judgeModel = config.judgeModel;
    if (judgeModel && "endpoint" in judgeModel) {
      const { endpoint } = judgeModel;
      const apiKey = endpoint.apiKeyEnv ? process.env[endpoint.apiKeyEnv] : undefined;
      if (endpoint.apiKeyEnv && !apiKey) {
        throw new RoundStepError(`The judge endpoint's key variable ${endpoint.apiKeyEnv} is not set.`);
      }
      return {
        judge: pairwiseJudge(endpointVerdicts({ url: endpoint.url, model: endpoint.model, apiKey })),
        dispose: async () => {},
      };
    }
    const engine =
      judgeModel && "gguf" in judgeModel
        ? await InferenceEngine.load({
            ...this.#engineOptions(config, { kvCache: "f32" }),
            modelPath: judgeModel.gguf,
            modelName: `judge:${judgeModel.gguf}`,
          })
        : await this.#loadEngine(base, config, { kvCache: "f32" });
    return { judge: pairwiseJudge(localVerdicts(engine)), dispose: () => engine[Symbol.asyncDispose]() };
  }

  async #version(id: string): Promise<ModelVersionRow> {
    const version = await findModelVersion(this.#db, id);
    if (!version) throw new RoundStepError(`Model version ${id} is not in the registry.`);
    return version;
  }

  /** Loads a registered version's GGUF after checking its sha256 against the registry. */
  async #loadEngine(
    version: ModelVersionRow,
    config: RoundConfig,
    options: { kvCache: "f16" | "f32"; cpuShare?: number },
  ): Promise<InferenceEngine> {
    await verifyModelFile(version.ggufPath, version.ggufSha256);
    return InferenceEngine.load({
      ...this.#engineOptions(config, options),
      modelPath: version.ggufPath,
      modelName: `${version.name}@v${version.version}`,
    });
  }

  #engineOptions(
    config: RoundConfig,
    options: { kvCache: "f16" | "f32"; cpuShare?: number },
  ): Omit<InferenceEngineOptions, "modelPath" | "modelName"> {
    return {
      parallel: config.inference.parallel,
      threads: config.inference.threads,
      contextSize: config.inference.contextSize,
      // The trainer queues its own work; it must never be refused as overloaded.
      maxQueue: 100_000,
      kvCache: options.kvCache,
      cpuShare: options.cpuShare,
      gpu: config.inference.gpu === "cpu" ? false : config.inference.gpu,
    };
  }

  #roundDir(round: RoundRow): string {
    return join(
      this.#workDir,
      `${round.modelName.replace(/[^\w.-]+/gu, "_")}-round-${round.number}-${round.id.slice(0, 8)}`,
    );
  }
}

/** Logged answers clinicians judged become candidates, and their corrections too. */
function loggedCandidates(
  completionIds: string[],
  judgements: FeedbackRow[],
  texts: Map<string, string>,
): Omit<NewRoundCandidate, "roundId" | "promptId" | "index">[] {
  const ids = new Set(completionIds);
  const relevant = judgements.filter((row) => ids.has(row.completionId));
  const logged = new Set<string>();
  for (const row of relevant) {
    logged.add(row.completionId);
    if (row.kind === "preference" && row.otherCompletionId) logged.add(row.otherCompletionId);
  }
  const out: Omit<NewRoundCandidate, "roundId" | "promptId" | "index">[] = [];
  for (const id of logged) {
    const text = texts.get(id);
    if (text !== undefined) out.push({ source: "logged", text, completionId: id });
  }
  const corrections = new Set<string>();
  for (const row of relevant) {
    if (row.kind !== "correction" || row.correction === null) continue;
    const key = `${row.completionId}\u0000${row.correction}`;
    if (corrections.has(key)) continue;
    corrections.add(key);
    out.push({ source: "correction", text: row.correction, completionId: row.completionId });
  }
  return out;
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

function lossText(values: Record<string, number>): string {
  const parts = [];
  if (values.loss !== undefined) parts.push(`loss ${values.loss.toFixed(4)}`);
  if (values["rewards/accuracies"] !== undefined)
    parts.push(`acc ${values["rewards/accuracies"].toFixed(2)}`);
  if (values["rewards/margins"] !== undefined) parts.push(`margin ${values["rewards/margins"].toFixed(3)}`);
  return parts.join(" · ");
}

function lastMetrics(trained: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!trained) return {};
  const { checkpointDir: _, ...rest } = trained;
  return rest;
}
