// A served model answered by a llama-server child process that this gateway starts, restarts and stops
// (`medgate serve --engine llama-server`). Chat is forwarded to it as to an upstream; scoring and tokenization
// (`/v1/completions`, the judges, the gate) run on an in-process engine of the same GGUF, loaded on first use.
import { stat } from "node:fs/promises";
import type { ChatRequest } from "../../inference/chatTypes.ts";
import { OverloadedError } from "../../inference/errors.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { LlamaServerProcess, type LlamaServerProcessOptions } from "../../inference/LlamaServerProcess.ts";
import { ApiError, UnavailableError } from "../errors.ts";
import { UpstreamBackend } from "../upstream/UpstreamBackend.ts";
import { UpstreamPool } from "../upstream/UpstreamPool.ts";
import { upstreamModelSchema } from "../upstream/upstreamConfig.ts";
import type { BackendStats, ChatAnswer, ChatBackend } from "./ChatBackend.ts";

export type LlamaServerBackendOptions = Omit<LlamaServerProcessOptions, "log"> & {
  /** Requests that may wait for a slot (in llama-server's queue) before 429. */
  maxQueue: number;
  /** System prompt for conversations without one. */
  defaultSystemPrompt?: string;
  /** Loads the in-process engine that scores and tokenizes for this model. */
  loadScoringEngine: () => Promise<InferenceEngine>;
  log?: (message: string) => void;
};

export class LlamaServerBackend implements ChatBackend {
  readonly kind = "llama-server";
  readonly engine = undefined;
  readonly fingerprint: string;
  readonly contextLength: number;
  readonly process: LlamaServerProcess;
  readonly #chat: UpstreamBackend;
  readonly #pool: UpstreamPool;
  readonly #options: LlamaServerBackendOptions;
  #scoring: Promise<InferenceEngine> | undefined;

  private constructor(
    options: LlamaServerBackendOptions,
    process: LlamaServerProcess,
    pool: UpstreamPool,
    fingerprint: string,
  ) {
    this.#options = options;
    this.process = process;
    this.#pool = pool;
    this.#chat = new UpstreamBackend(pool);
    this.fingerprint = fingerprint;
    this.contextLength = options.contextSize;
  }

  /** Starts llama-server on the GGUF and resolves once it answers /health. */
  static async start(options: LlamaServerBackendOptions): Promise<LlamaServerBackend> {
    const file = await stat(options.modelPath);
    const child = await LlamaServerProcess.start(options);
    const upstream = {
      name: "llama-server",
      url: child.url,
      model: options.alias,
      // Its slots and its queue: beyond them clients get 429, as from medgate's own engine.
      maxConcurrency: options.parallel + options.maxQueue,
      // A crash is followed by a restart on the same port: health checks readmit it as soon as it answers.
    };
    const config = upstreamModelSchema.parse({
      upstreams: [upstream],
      // Never ejected for failed requests: a dead child refuses connections at once anyway, and ejecting the
      // only upstream for a socket it closed would refuse every request meanwhile. Health checks still count.
      maxFailures: Number.MAX_SAFE_INTEGER,
      ejectMs: 1_000,
      healthIntervalMs: 1_000,
      retryWaitMs: 0,
    });
    const pool = new UpstreamPool(
      options.alias,
      config,
      new Map([[config.upstreams[0]!, child.apiKey]]),
      options.log,
    );
    const fingerprint = `medgate-${file.size.toString(36)}-${file.mtime.getTime().toString(36)}`;
    return new LlamaServerBackend(options, child, pool, fingerprint);
  }

  get disposed(): boolean {
    return this.#chat.disposed;
  }

  get stats(): BackendStats {
    const { size, inUse } = this.#chat.stats;
    const slots = this.#options.parallel;
    return {
      size: slots,
      inUse: Math.min(inUse, slots),
      queued: Math.max(0, inUse - slots),
      maxQueue: size - slots,
    };
  }

  startChat(request: ChatRequest, signal: AbortSignal): Promise<ChatAnswer> {
    const system = this.#options.defaultSystemPrompt;
    const messages =
      system && !request.messages.some((message) => message.role === "system")
        ? [{ role: "system" as const, content: system }, ...request.messages]
        : request.messages;
    return this.#chat.startChat({ ...request, messages }, signal).catch((error: unknown) => {
      // The pool's words are about upstreams; say what they mean here.
      if (error instanceof ApiError && error.status === 503 && this.process.pid === undefined) {
        throw new UnavailableError(
          `The llama-server of "${this.#options.alias}" stopped and is restarting (${this.process.restarts} restart(s) so far); retry shortly.`,
        );
      }
      if (error instanceof OverloadedError) {
        throw new OverloadedError(
          `All ${this.#options.parallel} slots are busy and ${this.#options.maxQueue} request(s) already wait; retry shortly.`,
          error.retryAfterSeconds,
        );
      }
      throw error;
    });
  }

  /** The in-process engine that scores and tokenizes for this model, loaded on first use. */
  scoringEngine(): Promise<InferenceEngine> {
    if (!this.#scoring) {
      this.#scoring = this.#options.loadScoringEngine();
      this.#scoring.catch(() => {
        this.#scoring = undefined;
      });
    }
    return this.#scoring;
  }

  /** Lets running requests finish, then stops llama-server and unloads the scoring engine. */
  async retire(): Promise<void> {
    await this.#chat.retire();
    this.#pool[Symbol.dispose]();
    await this.process.stop();
    const scoring = await this.#scoring?.catch(() => undefined);
    await scoring?.retire();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.retire();
  }
}
