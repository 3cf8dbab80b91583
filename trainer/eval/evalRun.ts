// An eval run: one model (a registered version, a GGUF file, or a model on a scoring server) scored on a benchmark
// suite, every question's result stored.
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { and, asc, eq } from "drizzle-orm";
import type { Database } from "../../db/createDatabase.ts";
import { type EvalRunRow, evalResults, evalRuns, type ModelVersionRow } from "../../db/schema.ts";
import { sha256OfFile, verifyModelFile } from "../../inference/fileDigest.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";
import { engineScorer } from "../scoring/engineScorer.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import { loadSuite } from "./benchmarks/suite.ts";
import {
  accuracies,
  defaultPromptSettings,
  type ItemResult,
  type PromptSettings,
  type ScoredItem,
  scoreItems,
} from "./mcqScoring.ts";
import { checkedSettings, fewshotExamples, type Protocol } from "./protocols.ts";

/** The `medical` suite: MedMCQA dev and the MMLU medical subjects. */
export const defaultSuitePath = fileURLToPath(new URL("./suites/medical.json", import.meta.url));

export type EvalSettings = PromptSettings & {
  /** Most questions per benchmark (its first ones). Default: all */
  limit?: number;
};

export type EvalProgress = { done: number; total: number };

export type SuiteItems = {
  suite: { name: string; version: number; protocol: Protocol };
  scored: ScoredItem[];
  /** Each scored item's few-shot examples. */
  examples: Map<ScoredItem, ScoredItem[]>;
};

/**
 * The suite's items, the first `limit` of each benchmark, each with its few-shot examples as the protocol picks
 * them (from every item in file order, so a limit keeps the picks of a whole run).
 */
export async function suiteItems(
  suitePath: string,
  settings: Omit<EvalSettings, "protocol">,
): Promise<SuiteItems> {
  const { suite, benchmarks } = await loadSuite(suitePath);
  const scored: ScoredItem[] = [];
  const examples = new Map<ScoredItem, ScoredItem[]>();
  for (const [benchmark, { items, fewshot }] of benchmarks) {
    const limited = settings.limit === undefined ? items : items.slice(0, settings.limit);
    const picked = fewshotExamples(limited, fewshot.items, { ...fewshot, shots: settings.shots, benchmark });
    for (const item of limited) {
      scored.push(item);
      examples.set(item, picked.get(item)!);
    }
  }
  return { suite: { name: suite.name, version: suite.version, protocol: suite.protocol }, scored, examples };
}

/**
 * What an eval run scores: a registered version (its file checked against the registry), a GGUF file, or a model
 * id on a scoring server.
 */
export type EvaluatedModel = {
  /** The registry version, or null for a file or server model scored without being registered. */
  versionId: string | null;
  /** How progress and the engine name it. */
  label: string;
  /** The GGUF loaded here; null for a model only a scoring server has. */
  ggufPath: string | null;
  ggufSha256: string | null;
};

export function evaluatedVersion(version: ModelVersionRow): EvaluatedModel {
  return {
    versionId: version.id,
    label: `${version.name}@v${version.version}`,
    ggufPath: version.ggufPath,
    ggufSha256: version.ggufSha256,
  };
}

/** A GGUF file as it is: scored and stored as an unregistered run with the file's sha256. */
export async function evaluatedFile(path: string): Promise<EvaluatedModel> {
  const ggufPath = resolve(path);
  return { versionId: null, label: basename(ggufPath), ggufPath, ggufSha256: await sha256OfFile(ggufPath) };
}

/** A model id on a scoring server, unregistered: the run records the server and the id. */
export function evaluatedRemoteModel(model: string): EvaluatedModel {
  return { versionId: null, label: model, ggufPath: null, ggufSha256: null };
}

/**
 * Scores `model` on the suite and stores the run and its per-question results: on `scorer` when given (the run's
 * settings then name its server and model, and no GGUF is recorded), else on its GGUF loaded here, the file's
 * sha256 checked first (against the registry for a version, against the one just taken for a file).
 */
export async function runEvaluation(
  db: Database,
  options: {
    model: EvaluatedModel;
    suitePath: string;
    /** The suite as `suiteItems` read it with these settings, when the caller has it already. */
    items?: SuiteItems;
    settings?: Partial<EvalSettings>;
    engine?: Omit<InferenceEngineOptions, "modelPath" | "modelName">;
    /** Scores on this instead of loading the GGUF (a scoring server). Default: the GGUF, loaded here */
    scorer?: Scorer;
    onProgress?: (progress: EvalProgress) => void;
    signal?: AbortSignal;
  },
): Promise<EvalRunRow> {
  const wanted = { ...defaultPromptSettings, ...options.settings };
  const { suite, scored, examples } = options.items ?? (await suiteItems(options.suitePath, wanted));
  // The suite's protocol unless the caller names one; the run records the one used.
  const settings = checkedSettings({ ...wanted, protocol: options.settings?.protocol ?? suite.protocol });
  const remote = options.scorer?.remote;
  const [run] = await db
    .insert(evalRuns)
    .values({
      modelVersionId: options.model.versionId,
      ggufPath: remote ? null : options.model.ggufPath,
      ggufSha256: remote ? null : options.model.ggufSha256,
      suite: suite.name,
      suiteVersion: suite.version,
      settings: { ...settings, ...(remote ? { scorer: { url: remote.url, model: remote.model } } : {}) },
      status: "running",
    })
    .returning();
  try {
    const engine = options.scorer ? undefined : await loadEvaluated(options.model, options.engine);
    const scorer = options.scorer ?? engineScorer(engine!);
    let done = 0;
    let pending: ItemResult[] = [];
    const flush = async () => {
      const rows = pending;
      pending = [];
      if (rows.length === 0) return;
      await db.insert(evalResults).values(rows.map((row) => ({ runId: run!.id, ...row })));
    };
    let results: ItemResult[];
    try {
      options.onProgress?.({ done, total: scored.length });
      results = await scoreItems(scorer, scored, examples, settings, {
        signal: options.signal,
        onResult: async (result) => {
          pending.push(result);
          options.onProgress?.({ done: ++done, total: scored.length });
          if (pending.length >= 200) await flush();
        },
      });
      await flush();
    } finally {
      await engine?.[Symbol.asyncDispose]();
    }
    const summary = accuracies(results);
    const [finished] = await db
      .update(evalRuns)
      .set({ status: "finished", summary, finishedAt: new Date() })
      .where(eq(evalRuns.id, run!.id))
      .returning();
    return finished!;
  } catch (error) {
    await db
      .update(evalRuns)
      .set({
        status: "failed",
        error: error instanceof Error ? error.message : String(error),
        finishedAt: new Date(),
      })
      .where(eq(evalRuns.id, run!.id));
    throw error;
  }
}

async function loadEvaluated(
  model: EvaluatedModel,
  engine: Omit<InferenceEngineOptions, "modelPath" | "modelName"> | undefined,
): Promise<InferenceEngine> {
  if (model.ggufPath === null || model.ggufSha256 === null)
    throw new Error(`${model.label} has no GGUF to load here; score it on its server.`);
  await verifyModelFile(model.ggufPath, model.ggufSha256);
  return InferenceEngine.load({
    kvCache: "f32",
    maxQueue: 100_000,
    ...engine,
    modelPath: model.ggufPath,
    modelName: model.label,
  });
}

/**
 * The newest finished run of a version on a suite with the same settings, to reuse instead of re-scoring: scored
 * here, or with `remote` on that server and model.
 */
export async function findFinishedRun(
  db: Database,
  versionId: string,
  suite: string,
  settings: EvalSettings,
  remote?: { url: string; model: string },
): Promise<EvalRunRow | undefined> {
  const rows = await db
    .select()
    .from(evalRuns)
    .where(
      and(eq(evalRuns.modelVersionId, versionId), eq(evalRuns.suite, suite), eq(evalRuns.status, "finished")),
    )
    .orderBy(asc(evalRuns.startedAt));
  const wanted = JSON.stringify(sortKeys({ ...settings, ...(remote ? { scorer: remote } : {}) }));
  return rows.reverse().find((row) => JSON.stringify(sortKeys(row.settings)) === wanted);
}

export async function evalResultsOf(db: Database, runId: string): Promise<ItemResult[]> {
  const rows = await db.select().from(evalResults).where(eq(evalResults.runId, runId));
  return rows.map(({ runId: _, ...result }) => result);
}

/** Keys in order at every level (jsonb keeps its own order), for comparing settings as JSON. */
function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, entry]) => [
        key,
        entry !== null && typeof entry === "object" && !Array.isArray(entry)
          ? sortKeys(entry as Record<string, unknown>)
          : entry,
      ]),
  );
}
