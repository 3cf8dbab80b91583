// Which backend answers which model name; empty until a model has loaded (the server is up before that).
import type { CanaryEvidence } from "../../db/schema.ts";
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
  /** The name's running canary in split mode, whose candidate answers its share of the requests. */
  canary?: ServedCanary;
};

/** A canary's candidate as this gateway serves it (split mode). */
export type ServedCanary = {
  /** The canary's row id, stored on every answer given while it runs. */
  id: string;
  /** `split`: the candidate answers its share itself; `shadow`: it answers its share again, in the background. */
  mode: "split" | "shadow";
  /** Share of the name's requests the candidate answers (or shadows), in (0, 1]. */
  share: number;
  backend: ChatBackend;
  versionId: string;
  version: number;
  /** The trainer's latest look at the canary (verdicts, win rate and interval), refreshed as the registry is read. */
  evidence: CanaryEvidence | null;
};

/** Who answers one request: the champion, or the canary's candidate for its share; and the canary to record. */
export type Answerer = { backend: ChatBackend; versionId: string | null; canaryId: string | null };

/** Picks who answers a request to `served`: the candidate for a split canary's share of requests, else the champion. */
export function answererOf(served: ServedModel, random: () => number = Math.random): Answerer {
  const { canary } = served;
  if (canary?.mode === "split" && !canary.backend.disposed && random() < canary.share) {
    return { backend: canary.backend, versionId: canary.versionId, canaryId: canary.id };
  }
  return { backend: served.backend, versionId: served.versionId, canaryId: canary?.id ?? null };
}

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
      // A canary outlives a change of champion that is not its own candidate's promotion.
      ...(previous?.canary && previous.canary.versionId !== registered?.id
        ? { canary: previous.canary }
        : {}),
    });
    return previous;
  }

  /**
   * Routes the canary's share of `name`'s requests to its candidate (or stops, with `undefined`); returns the canary
   * it replaced, whose backend the caller retires unless it now serves as the champion.
   */
  setCanary(name: string, canary: ServedCanary | undefined): ServedCanary | undefined {
    const served = this.#models.get(name);
    if (!served) return undefined;
    const previous = served.canary;
    const { canary: _dropped, ...rest } = served;
    this.#models.set(name, canary ? { ...rest, canary } : rest);
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

/**
 * The shadow canary's candidate, when it should answer this request again in the background: for the canary's share
 * of requests, and only while it has a free sequence, so that shadow work is dropped rather than queued behind or
 * ahead of live requests.
 */
export function shadowOf(served: ServedModel, random: () => number = Math.random): ServedCanary | undefined {
  const { canary } = served;
  if (canary?.mode !== "shadow" || canary.backend.disposed || random() >= canary.share) return undefined;
  const { size, inUse, queued } = canary.backend.stats;
  return inUse + queued < size ? canary : undefined;
}
