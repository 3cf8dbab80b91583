// Which engine answers which model name; empty until a model has loaded (the server is up before that).
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";

export type ServedModel = {
  /** The name clients put in `model`. */
  name: string;
  engine: InferenceEngine;
  /** When this model started being served. */
  servedSince: Date;
  /** The model-registry version this engine runs, when the name is registered. */
  versionId: string | null;
  /** Its version number (1, 2, …). */
  version: number | null;
};

export class ServedModels {
  readonly #models = new Map<string, ServedModel>();

  /**
   * Serves `engine` under `name`, returning the model it replaced, if any: requests that already hold the
   * old engine finish on it, every later request gets the new one.
   */
  serve(
    name: string,
    engine: InferenceEngine,
    registered: { id: string; version: number } | null = null,
  ): ServedModel | undefined {
    const previous = this.#models.get(name);
    this.#models.set(name, {
      name,
      engine,
      servedSince: new Date(),
      versionId: registered?.id ?? null,
      version: registered?.version ?? null,
    });
    return previous;
  }

  get(name: string): ServedModel | undefined {
    return this.#models.get(name);
  }

  list(): ServedModel[] {
    return [...this.#models.values()];
  }

  /** True once at least one model can answer. */
  get ready(): boolean {
    return [...this.#models.values()].some((served) => !served.engine.disposed);
  }

  /** Stops serving every model and returns them, so the caller can dispose them. */
  clear(): ServedModel[] {
    const all = this.list();
    this.#models.clear();
    return all;
  }
}
