// What answers a served model name: medgate's own engine in this process, a llama-server child process it
// manages, or upstream OpenAI-compatible endpoints. The chat service, the probes and the gauges see only this.
import type { ChatDelta, ChatRequest, ChatResult } from "../../inference/chatTypes.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";

/** One running choice: text deltas as they come, and the whole result when it ends. */
export type ChatAnswer = AsyncIterable<ChatDelta> & {
  /** Resolves with the answer (finish reason `cancelled` when stopped), rejects when the backend failed. */
  readonly result: Promise<ChatResult>;
  /** Stops generation. */
  cancel(reason?: unknown): void;
  /** The upstream that answered, for a model served by upstreams. */
  readonly upstream?: string;
};

export type BackendStats = {
  /** Requests the backend can run at once (sequences, or the upstreams' concurrency limits). */
  size: number;
  /** Requests running. */
  inUse: number;
  /** Requests waiting for a free slot. */
  queued: number;
  /** Most requests that may wait, where there is a wait queue. */
  maxQueue?: number;
  /** For upstreams: each one's requests in flight, limit and health. */
  upstreams?: { name: string; outstanding: number; maxConcurrency: number; healthy: boolean }[];
};

export interface ChatBackend extends AsyncDisposable {
  /**
   * `engine`: node-llama-cpp in this process; `llama-server`: a llama-server child process this gateway runs;
   * `upstream`: OpenAI-compatible endpoints medgate forwards to.
   */
  readonly kind: "engine" | "llama-server" | "upstream";
  readonly disposed: boolean;
  /** Tokens per request, where known. */
  readonly contextLength: number | null;
  /** `system_fingerprint` of the answers. */
  readonly fingerprint: string;
  /** The in-process engine, for scoring and tokenization; undefined for upstreams. */
  readonly engine: InferenceEngine | undefined;
  /** Where `engine` is undefined but the weights are here: loads the engine that scores, on first use. */
  scoringEngine?(): Promise<InferenceEngine>;
  /**
   * Checks the request and starts one choice. Everything that refuses the request (bad input, too long,
   * overloaded) throws here, before any output exists.
   */
  startChat(request: ChatRequest, signal: AbortSignal): Promise<ChatAnswer>;
  /** Once no new request is routed here: lets running requests finish, then disposes. */
  retire(): Promise<void>;
  readonly stats: BackendStats;
}

/** A served model answered by an in-process engine. */
export class EngineBackend implements ChatBackend {
  readonly kind = "engine";
  readonly engine: InferenceEngine;
  readonly fingerprint: string;

  constructor(engine: InferenceEngine) {
    this.engine = engine;
    const { fileBytes, fileModifiedAt } = engine.info;
    this.fingerprint = `medgate-${fileBytes.toString(36)}-${fileModifiedAt.getTime().toString(36)}`;
  }

  get disposed(): boolean {
    return this.engine.disposed;
  }

  get contextLength(): number {
    return this.engine.info.contextSize;
  }

  get stats(): BackendStats {
    return this.engine.poolStats;
  }

  startChat(request: ChatRequest, signal: AbortSignal): Promise<ChatAnswer> {
    return this.engine.startChat(request, signal);
  }

  retire(): Promise<void> {
    return this.engine.retire();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.engine[Symbol.asyncDispose]();
  }
}
