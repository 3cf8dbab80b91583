// What answers a served name, following the registry: finds (or, for a name never seen, registers) its champion,
// checks the GGUF's sha256, loads it on the chosen engine (in-process, or a managed llama-server), serves it and
// starts the ChampionWatcher that swaps on promotion and routes a canary. With `--engine auto` it also moves the
// name from the in-process engine to llama-server once a background build delivers one. Names answered by
// upstream engines are followed the same way (`serveUpstreamNames`). serve, the demo and the tests start here.

import { hostname } from "node:os";
import { registerChampion } from "../../db/championChanges.ts";
import type { DatabaseHandle } from "../../db/createDatabase.ts";
import { findChampion, listModelVersions } from "../../db/modelVersions.ts";
import type { ModelVersionRow } from "../../db/schema.ts";
import type { ChatTemplateFamily } from "../../inference/catalog.ts";
import { sha256OfFile, verifyModelFile } from "../../inference/fileDigest.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { llamaServerSettings } from "../../inference/LlamaServerProcess.ts";
import type { GpuChoice } from "../../inference/sharedLlama.ts";
import type { UpstreamModels } from "../upstream/upstreamModels.ts";
import { ChampionWatcher } from "./ChampionWatcher.ts";
import type { ChatBackend } from "./ChatBackend.ts";
import { LlamaServerBackend } from "./LlamaServerBackend.ts";
import type { ServedModels } from "./ServedModels.ts";

/** What generates a name's chat answers. */
export type ChatEngine = { kind: "node-llama-cpp" } | { kind: "llama-server"; binary: string };

/** Engine settings shared by every version of a name. */
export type EngineSettings = {
  /** Sequences (llama-server: slots) decoded together. */
  parallel: number;
  /** Threads. Default: by model size and cores (see `defaultThreadCount`) */
  threads?: number;
  /** Cores the in-process engine's default thread count leaves to the gateway's JavaScript. Default: 0 */
  reservedCores?: number;
  /** Tokens per sequence. Default: the model's training context, at most 4096 */
  contextSize?: number;
  /** Requests that may wait for a sequence before 429. */
  maxQueue: number;
  gpu: GpuChoice;
  chatTemplateFallback?: ChatTemplateFamily;
  defaultSystemPrompt?: string;
};

export type LoadModel = (modelPath: string) => Promise<InferenceEngine | ChatBackend>;

/** Loads a GGUF under `modelName` on `engine`; with llama-server, scoring loads in-process on first use. */
export function modelLoader(engine: ChatEngine, modelName: string, settings: EngineSettings): LoadModel {
  const loadInProcess = (modelPath: string, fitted?: { threads: number; contextSize: number }) =>
    InferenceEngine.load({
      modelPath,
      modelName,
      parallel: settings.parallel,
      threads: fitted?.threads ?? settings.threads,
      reservedCores: settings.reservedCores ?? 0,
      contextSize: fitted?.contextSize ?? settings.contextSize,
      maxQueue: settings.maxQueue,
      gpu: settings.gpu,
      chatTemplateFallback: settings.chatTemplateFallback,
      defaultSystemPrompt: settings.defaultSystemPrompt,
    });
  if (engine.kind === "node-llama-cpp") return (modelPath) => loadInProcess(modelPath);
  return async (modelPath) => {
    const fitted = await llamaServerSettings(modelPath, {
      threads: settings.threads,
      contextSize: settings.contextSize,
      gpu: settings.gpu,
      // The gateway only forwards here, so llama-server gets every core: with one left free it generated
      // about half as fast on 2 cores (docs/benchmarks.md, "Measurements").
      reservedCores: 0,
      chatTemplateFallback: settings.chatTemplateFallback,
    });
    return LlamaServerBackend.start({
      binary: engine.binary,
      modelPath,
      alias: modelName,
      parallel: settings.parallel,
      ...fitted,
      gpuLayers: settings.gpu === false ? 0 : undefined,
      maxQueue: settings.maxQueue,
      defaultSystemPrompt: settings.defaultSystemPrompt,
      loadScoringEngine: () => loadInProcess(modelPath, fitted),
    });
  };
}

/** The GGUF given to serve a name: its first champion when the registry has never seen the name. */
export type GivenModel = {
  path: string;
  /** Stored in the version's config as `registeredBy`, and the audit's actor is `${registeredBy}@host`. */
  registeredBy: string;
  /** The Hugging Face checkpoint of the same weights, for training. Default: none */
  hfDir?: string;
};

export type NameServingOptions = {
  database: DatabaseHandle;
  models: ServedModels;
  name: string;
  given: GivenModel;
  /** Loads a GGUF on the engine that answers now (see `modelLoader`). */
  load: LoadModel;
  /**
   * A better engine on its way (`--engine auto` while llama-server builds): once it resolves with a loader, the name
   * moves to it by a hot swap, and every later version loads with it. Resolving with undefined keeps `load`.
   */
  upgrade?: Promise<{ load: LoadModel; why: string } | undefined>;
  /** How often the watcher reads the registry whatever the notifications say. Default: 10 s */
  pollMs?: number;
  /** Where progress goes. Default: stderr, prefixed "medgate: " */
  log?: (message: string) => void;
};

/** One served name, following the registry; disposing it stops following (the gateway unloads the engines). */
export class NameServing implements AsyncDisposable {
  readonly name: string;
  /** The registered version served at start; undefined when the file given is served unregistered. */
  readonly champion: ModelVersionRow | undefined;
  readonly watcher: ChampionWatcher;
  /** Settles once the upgrade (if any) has been applied or given up. */
  readonly upgraded: Promise<void>;
  readonly #models: ServedModels;

  private constructor(
    options: NameServingOptions,
    champion: ModelVersionRow | undefined,
    watcher: ChampionWatcher,
  ) {
    this.name = options.name;
    this.champion = champion;
    this.watcher = watcher;
    this.#models = options.models;
    this.upgraded = (options.upgrade ?? Promise.resolve(undefined))
      .then(async (upgrade) => {
        if (!upgrade) return;
        const path = champion ? undefined : options.given.path;
        if (await watcher.reload(options.name, upgrade.why, upgrade.load, path)) {
          logOf(options)(this.description);
        }
      })
      .catch((error: unknown) =>
        logOf(options)(`"${options.name}" stays on its engine: ${(error as Error).message}`),
      );
  }

  static async start(options: NameServingOptions): Promise<NameServing> {
    const { database, models, name, given } = options;
    const log = logOf(options);
    const champion = await championToServe(database, name, given, log);
    const backend = await options.load(champion?.ggufPath ?? given.path);
    const replaced = models.serve(name, backend, champion ?? null);
    if (replaced) await replaced.backend.retire();
    const watcher = await ChampionWatcher.start({
      database,
      models,
      names: [name],
      loadEngine: options.load,
      pollMs: options.pollMs,
      log,
    });
    return new NameServing(options, champion, watcher);
  }

  /** What answers the name now, for the log: engine, sequences, context, threads, template. */
  get description(): string {
    const served = this.#models.get(this.name);
    return served ? describeBackend(this.name, served.backend) : `"${this.name}" is not served`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.watcher[Symbol.asyncDispose]();
  }
}

/** A served backend in a log line: `model "X" ready (…)` or `model "X" ready on llama-server (…)`. */
export function describeBackend(name: string, backend: ChatBackend): string {
  if (backend instanceof LlamaServerBackend) {
    const { options, pid } = backend.process;
    const template =
      options.extraArgs?.[0] === "--chat-template"
        ? `the catalog's ${options.extraArgs[1]} chat template`
        : "the GGUF's chat template";
    return `model "${name}" ready on llama-server (pid ${pid}, ${options.parallel} slots × ${options.contextSize} tokens, ${options.threads} thread(s), ${template}; scoring loads in this process on first use)`;
  }
  const info = backend.engine?.info;
  if (!info) return `model "${name}" ready (${backend.kind})`;
  return `model "${info.modelName}" ready (${info.parallel} sequences × ${info.contextSize} tokens, ${info.threads} thread(s), template ${info.chatTemplate})`;
}

/** Follows the names of an upstreams file: a promotion moves the name's route to the champion's upstream model id. */
export function serveUpstreamNames(options: {
  database: DatabaseHandle;
  models: ServedModels;
  fleet: UpstreamModels;
  pollMs?: number;
  log?: (message: string) => void;
}): Promise<ChampionWatcher> {
  return ChampionWatcher.start({
    database: options.database,
    models: options.models,
    names: options.fleet.names,
    loadEngine: () => Promise.reject(new Error("a name served by upstreams loads no engine")),
    upstreamRoute: options.fleet.route,
    pollMs: options.pollMs,
    log: options.log,
  });
}

/**
 * The registry decides what a name serves: its champion (whose file must match its sha256). A name the
 * registry has never seen is registered with the file given as its first champion, audited.
 */
async function championToServe(
  database: DatabaseHandle,
  name: string,
  given: GivenModel,
  log: (message: string) => void,
): Promise<ModelVersionRow | undefined> {
  const champion = await findChampion(database.db, name);
  if (champion) {
    await verifyModelFile(champion.ggufPath, champion.ggufSha256);
    log(`serving the champion of "${name}": v${champion.version} (${champion.ggufPath}).`);
    return champion;
  }
  if ((await listModelVersions(database.db, name)).length > 0) {
    log(`"${name}" has versions but no champion; serving ${given.path} unregistered until one is promoted.`);
    return undefined;
  }
  return registerChampion(
    database.db,
    {
      name,
      ggufPath: given.path,
      ggufSha256: await sha256OfFile(given.path),
      ...(given.hfDir ? { hfDir: given.hfDir } : {}),
      config: { registeredBy: given.registeredBy },
    },
    { actor: `${given.registeredBy}@${hostname()}`, reason: "first model served under this name" },
  );
}

function logOf(options: { log?: (message: string) => void }): (message: string) => void {
  return options.log ?? ((message) => console.error(`medgate: ${message}`));
}
