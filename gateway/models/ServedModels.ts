// Which backend answers which model name; empty until a model has loaded (the server is up before that).
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { type ChatBackend, EngineBackend } from "./ChatBackend.ts";

export type ServedModel = {
  /** The name clients put in `model`. */
  name: string;
  backend: ChatBackend;
  /** The in-process engine behind the name, when it has one (scoring and tokenization run on it). */
  engine: InferenceEngine | undefined;
  /** When this model started being served. */
  servedSince: Date;
  /** The model-registry version this backend runs, when the name is registered. */
  versionId: string | null;
  /** Its version number (1, 2, …). */
  version: number | null;
};

export class ServedModels {
  readonly #models = new Map<string, ServedModel>();

  /**
   * Serves `backend` (an engine is wrapped) under `name`, returning the model it replaced, if any: requests
   * that already hold the old backend finish on it, every later request gets the new one.
   */
  serve(
    name: string,
    backend: ChatBackend | InferenceEngine,
    registered: { id: string; version: number } | null = null,
  ): ServedModel | undefined {
    const previous = this.#models.get(name);
    const wrapped = backend instanceof InferenceEngine ? new EngineBackend(backend) : backend;
    this.#models.set(name, {
      name,
      backend: wrapped,
      engine: wrapped.engine,
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
    return [...this.#models.values()].some((served) => !served.backend.disposed);
  }

  /** Stops serving every model and returns them, so the caller can dispose them. */
  clear(): ServedModel[] {
    const all = this.list();
    this.#models.clear();
    return all;
  }
}
