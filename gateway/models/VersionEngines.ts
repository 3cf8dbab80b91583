// Registered versions loaded on demand for scoring: a request for `NAME@vN` (a round's judge or gate, an
// evaluation) runs on that version even when the gateway serves another. At most `maxLoaded` stay loaded; the
// least recently used idle one is retired to make room, and one idle for `idleMs` is unloaded.
import type { ModelVersionRow } from "../../db/schema.ts";
import { verifyModelFile } from "../../inference/fileDigest.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { NotFoundError, OverloadedApiError, UnavailableError } from "../errors.ts";

export type VersionEnginesOptions = {
  /** The registry row of `NAME@vN`. */
  find(ref: string): Promise<ModelVersionRow | undefined>;
  /** Loads a version's GGUF with the gateway's engine settings (its sha256 is checked before). */
  load(version: ModelVersionRow): Promise<InferenceEngine>;
  /** Versions loaded at once, besides the served champions. Default: 2 */
  maxLoaded?: number;
  /** A version unused this long is unloaded. Default: 600000 (10 minutes) */
  idleMs?: number;
};

/** A version's engine lent to one request; disposing the lease hands it back. */
export type VersionLease = Disposable & { engine: InferenceEngine; version: ModelVersionRow };

type Entry = { engine: Promise<InferenceEngine>; leases: number; lastUsed: number };

/** `NAME@vN`, the form of a version reference a request's `model` may take. */
export const versionRefPattern = /^(.+)@v(\d+)$/u;

export class VersionEngines implements AsyncDisposable {
  readonly #options: VersionEnginesOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout;
  readonly #unloading = new Set<Promise<void>>();

  constructor(options: VersionEnginesOptions) {
    this.#options = options;
    const idleMs = options.idleMs ?? 600_000;
    this.#timer = setInterval(() => this.#unloadIdle(idleMs), Math.min(idleMs, 30_000));
    this.#timer.unref();
  }

  /** Lends the engine of `ref` (`NAME@vN`), loading it first when needed. */
  async lease(ref: string): Promise<VersionLease> {
    const version = await this.#options.find(ref);
    if (!version) throw new NotFoundError(`The model \`${ref}\` does not exist.`, "model", "model_not_found");
    let entry = this.#entries.get(version.id);
    if (!entry) {
      this.#makeRoom();
      entry = { engine: this.#load(version), leases: 0, lastUsed: Date.now() };
      this.#entries.set(version.id, entry);
    }
    entry.leases++;
    let engine: InferenceEngine;
    try {
      engine = await entry.engine;
    } catch (error) {
      entry.leases--;
      if (this.#entries.get(version.id) === entry) this.#entries.delete(version.id);
      throw error;
    }
    let returned = false;
    return {
      engine,
      version,
      [Symbol.dispose]: () => {
        if (returned) return;
        returned = true;
        entry.leases--;
        entry.lastUsed = Date.now();
      },
    };
  }

  get loaded(): number {
    return this.#entries.size;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all([...this.#unloading]);
    for (const entry of entries) {
      const engine = await entry.engine.catch(() => undefined);
      await engine?.[Symbol.asyncDispose]();
    }
  }

  async #load(version: ModelVersionRow): Promise<InferenceEngine> {
    try {
      await verifyModelFile(version.ggufPath, version.ggufSha256);
      return await this.#options.load(version);
    } catch (error) {
      throw new UnavailableError(
        `${version.name}@v${version.version} could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  #makeRoom(): void {
    const maxLoaded = this.#options.maxLoaded ?? 2;
    while (this.#entries.size >= maxLoaded) {
      const idle = [...this.#entries].filter(([, entry]) => entry.leases === 0);
      if (idle.length === 0) {
        throw new OverloadedApiError(
          `All ${maxLoaded} model versions loaded for scoring are in use; retry when one is free.`,
          5,
        );
      }
      idle.sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
      this.#unload(idle[0]![0]);
    }
  }

  #unloadIdle(idleMs: number): void {
    const now = Date.now();
    for (const [id, entry] of this.#entries) {
      if (entry.leases === 0 && now - entry.lastUsed >= idleMs) this.#unload(id);
    }
  }

  #unload(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    const unloading = entry.engine
      .then((engine) => engine.retire())
      .catch(() => {})
      .finally(() => this.#unloading.delete(unloading));
    this.#unloading.add(unloading);
  }
}
