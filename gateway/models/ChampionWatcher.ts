// Hot swap: follows each served name's champion and running canary in the registry (LISTEN/NOTIFY, polling as a
// fallback) and moves new requests to a new champion's engine (or, for a name served by upstreams, to the champion's
// upstream model id) while in-flight ones finish where they started; during a canary, its candidate is loaded beside
// the champion and answers the canary's share (split) or shadows it in the background (shadow).

import { runningCanary } from "../../db/canaries.ts";
import { championChannel } from "../../db/championChanges.ts";
import type { DatabaseHandle, Listener } from "../../db/createDatabase.ts";
import { findChampion, findModelVersion } from "../../db/modelVersions.ts";
import type { CanaryRow, ModelVersionRow } from "../../db/schema.ts";
import { verifyModelFile } from "../../inference/fileDigest.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { type ChatBackend, EngineBackend } from "./ChatBackend.ts";
import type { ServedCanary, ServedModels } from "./ServedModels.ts";

export type ChampionWatcherOptions = {
  database: DatabaseHandle;
  models: ServedModels;
  /** Served names to follow. */
  names: string[];
  /**
   * Loads a GGUF with the gateway's engine settings (a version's sha256 is checked before): an in-process
   * engine, or a backend such as a managed llama-server. `reload` may change it.
   */
  loadEngine: (modelPath: string) => Promise<InferenceEngine | ChatBackend>;
  /** For a name served by upstreams: the route to a version (nothing is loaded here). Default: none */
  upstreamRoute?: (name: string, version: ModelVersionRow) => ChatBackend | undefined;
  /** How often to look at the registry whatever the notifications say. Default: 10 s */
  pollMs?: number;
  log?: (message: string) => void;
};

export class ChampionWatcher {
  readonly #options: ChampionWatcherOptions;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #retiring = new Set<Promise<void>>();
  /** Versions that failed to load, not retried until the champion changes again. */
  readonly #failed = new Set<string>();
  #loadEngine: ChampionWatcherOptions["loadEngine"];
  #listener: Listener | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Swaps done since start. */
  swaps = 0;

  private constructor(options: ChampionWatcherOptions) {
    this.#options = options;
    this.#loadEngine = options.loadEngine;
  }

  /** Listens for champion changes and checks every name once now. */
  static async start(options: ChampionWatcherOptions): Promise<ChampionWatcher> {
    const watcher = new ChampionWatcher(options);
    await watcher.#listen();
    watcher.#timer = setInterval(() => {
      if (!watcher.#listener || watcher.#listener.lost.aborted) void watcher.#listen();
      for (const name of options.names) void watcher.check(name);
    }, options.pollMs ?? 10_000);
    watcher.#timer.unref();
    await Promise.all(options.names.map((name) => watcher.check(name)));
    return watcher;
  }

  /** Compares the served version of `name` with the registry's champion and swaps if they differ. */
  check(name: string): Promise<void> {
    const previous = this.#chains.get(name) ?? Promise.resolve();
    const next = previous.then(() => this.#check(name));
    this.#chains.set(name, next);
    return next;
  }

  /**
   * Moves `name` to another engine, after any check in progress: loads what it serves again with `loadEngine` (its
   * version's file, checked, or `unregisteredPath` when no version is served) and swaps to it; from then on every
   * version loads with it. If the load fails, nothing changes. The canary's candidate, if any, stays where it runs
   * until the canary changes. Resolves with whether the name moved.
   */
  reload(
    name: string,
    why: string,
    loadEngine: ChampionWatcherOptions["loadEngine"],
    unregisteredPath?: string,
  ): Promise<boolean> {
    const previous = this.#chains.get(name) ?? Promise.resolve();
    const next = previous.then(() => this.#reload(name, why, loadEngine, unregisteredPath));
    this.#chains.set(
      name,
      next.then(() => {}),
    );
    return next;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#listener?.[Symbol.asyncDispose]();
    await Promise.all([...this.#chains.values()]);
    await Promise.all([...this.#retiring]);
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#listener = await this.#options.database.listen(championChannel, (name) => {
        if (this.#options.names.includes(name)) void this.check(name);
      });
    } catch (error) {
      this.#log(`cannot LISTEN for champion changes (${messageOf(error)}); polling only.`);
    }
  }

  async #check(name: string): Promise<void> {
    if (this.#closed) return;
    const { database } = this.#options;
    let champion: ModelVersionRow | undefined;
    try {
      champion = await findChampion(database.db, name);
    } catch (error) {
      this.#log(
        `cannot read the champion of "${name}" (${messageOf(error)}); still serving the current model.`,
      );
      return;
    }
    await this.#checkChampion(name, champion);
    await this.#checkCanary(name);
  }

  async #reload(
    name: string,
    why: string,
    loadEngine: ChampionWatcherOptions["loadEngine"],
    unregisteredPath: string | undefined,
  ): Promise<boolean> {
    const served = this.#options.models.get(name);
    if (this.#closed || !served) return false;
    let engine: InferenceEngine | ChatBackend;
    let version: ModelVersionRow | undefined;
    try {
      version = served.versionId
        ? await findModelVersion(this.#options.database.db, served.versionId)
        : undefined;
      const path = version?.ggufPath ?? unregisteredPath;
      if (!path) return false;
      if (version) await verifyModelFile(version.ggufPath, version.ggufSha256);
      engine = await loadEngine(path);
    } catch (error) {
      this.#log(
        `cannot move "${name}" to another engine (${why}): ${messageOf(error)}; it stays where it is.`,
      );
      return false;
    }
    if (this.#closed) {
      await engine[Symbol.asyncDispose]();
      return false;
    }
    this.#loadEngine = loadEngine;
    const replaced = this.#options.models.serve(name, engine, version ?? null);
    this.#log(`"${name}" moved to another engine (${why}).`);
    if (replaced) this.#retire(name, replaced.backend);
    return true;
  }

  async #checkChampion(name: string, champion: ModelVersionRow | undefined): Promise<void> {
    const { models } = this.#options;
    const loadEngine = this.#loadEngine;
    const served = models.get(name);
    if (!champion || served?.versionId === champion.id || this.#failed.has(champion.id)) return;
    // The canary's candidate promoted: its backend, already loaded and checked, becomes the champion's.
    if (served?.canary?.versionId === champion.id) {
      this.#swap(name, served.canary.backend, champion, "the canary's candidate, promoted");
      return;
    }
    const route = this.#options.upstreamRoute?.(name, champion);
    if (route) {
      this.#swap(name, route, champion, `upstream model ${champion.upstreamModel ?? "as configured"}`);
      if (!champion.upstreamModel) {
        this.#log(
          `${name} v${champion.version} names no upstream model: its upstreams answer with the model id of the upstreams file; set one with \`medgate models set-upstream\`.`,
        );
      }
      return;
    }
    let engine: InferenceEngine | ChatBackend;
    try {
      await verifyModelFile(champion.ggufPath, champion.ggufSha256);
      engine = await loadEngine(champion.ggufPath);
    } catch (error) {
      this.#failed.add(champion.id);
      this.#log(
        `cannot load the new champion ${name} v${champion.version} (${messageOf(error)}); still serving the current model.`,
      );
      return;
    }
    if (this.#closed) {
      await engine[Symbol.asyncDispose]();
      return;
    }
    this.#swap(name, engine, champion, champion.ggufPath);
  }

  /** Follows the name's running canary: loads its candidate beside the champion, or lets it go. */
  async #checkCanary(name: string): Promise<void> {
    const { database, models } = this.#options;
    const served = models.get(name);
    if (!served) return;
    let canary: CanaryRow | undefined;
    try {
      canary = await runningCanary(database.db, name);
    } catch (error) {
      this.#log(`cannot read the canary of "${name}" (${messageOf(error)}); keeping the current routing.`);
      return;
    }
    const wanted = canary && canary.candidateVersionId !== served.versionId ? canary : undefined;
    if (served.canary && served.canary.id === wanted?.id) {
      served.canary.evidence = wanted.evidence;
      return;
    }
    if (!served.canary && !wanted) return;
    if (!wanted) {
      this.#stopCanary(name, "the canary ended");
      return;
    }
    if (this.#failed.has(wanted.id)) return;
    const candidate = await findModelVersion(database.db, wanted.candidateVersionId);
    let backend: ChatBackend | InferenceEngine | undefined = candidate
      ? this.#options.upstreamRoute?.(name, candidate)
      : undefined;
    try {
      if (!candidate) throw new Error(`no model version ${wanted.candidateVersionId}`);
      if (!backend) {
        await verifyModelFile(candidate.ggufPath, candidate.ggufSha256);
        backend = await this.#loadEngine(candidate.ggufPath);
      }
    } catch (error) {
      this.#failed.add(wanted.id);
      this.#log(
        `cannot load the canary's candidate of "${name}" (${messageOf(error)}); the champion answers every request.`,
      );
      return;
    }
    if (this.#closed) {
      await backend[Symbol.asyncDispose]();
      return;
    }
    const wrapped = backend instanceof InferenceEngine ? new EngineBackend(backend) : backend;
    const next: ServedCanary = {
      id: wanted.id,
      mode: wanted.mode,
      share: wanted.share,
      backend: wrapped,
      versionId: candidate!.id,
      version: candidate!.version,
      evidence: wanted.evidence,
    };
    this.#retireCanary(name, models.setCanary(name, next));
    this.#log(
      `canary of ${name}: v${candidate!.version} ${wanted.mode === "split" ? "answers" : "shadows"} ${Math.round(wanted.share * 100)}% of its requests.`,
    );
  }

  #stopCanary(name: string, why: string): void {
    const previous = this.#options.models.setCanary(name, undefined);
    if (!previous) return;
    this.#log(`canary of ${name} stopped (${why}); the champion answers every request.`);
    this.#retireCanary(name, previous);
  }

  /** Retires a canary's backend once no request is routed to it, unless it now serves as the champion. */
  #retireCanary(name: string, canary: ServedCanary | undefined): void {
    if (!canary || this.#options.models.get(name)?.backend === canary.backend) return;
    this.#retire(name, canary.backend);
  }

  #retire(name: string, backend: ChatBackend): void {
    const retiring = backend
      .retire()
      .catch((error: unknown) =>
        this.#log(`retiring a previous engine of "${name}" failed: ${messageOf(error)}`),
      )
      .finally(() => this.#retiring.delete(retiring));
    this.#retiring.add(retiring);
  }

  #swap(name: string, backend: ChatBackend | InferenceEngine, champion: ModelVersionRow, what: string): void {
    const replaced = this.#options.models.serve(name, backend, champion);
    this.swaps++;
    this.#log(`now serving ${name} v${champion.version} (${what}).`);
    if (replaced) this.#retire(name, replaced.backend);
  }

  #log(message: string): void {
    (this.#options.log ?? ((text: string) => console.error(`medgate: ${text}`)))(message);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
