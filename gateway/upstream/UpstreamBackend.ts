// A served name answered by upstream OpenAI-compatible endpoints. Every choice is streamed from one upstream
// (whole answers too, so that time to first token and cancellation work the same); a choice that fails before
// its first text is retried on another upstream, one that fails after it ends with the failure.
import type { ChatDelta, ChatRequest, ChatResult, FinishReason } from "../../inference/chatTypes.ts";
import { DeltaQueue } from "../../inference/DeltaQueue.ts";
import { ApiError, BadRequestError } from "../errors.ts";
import type { BackendStats, ChatAnswer, ChatBackend } from "../models/ChatBackend.ts";
import { sseData } from "./serverSentEvents.ts";
import {
  causeOf,
  closedBeforeResponse,
  type Upstream,
  type UpstreamLease,
  type UpstreamPool,
} from "./UpstreamPool.ts";

export class UpstreamBackend implements ChatBackend {
  readonly kind = "upstream";
  readonly engine = undefined;
  readonly contextLength = null;
  readonly fingerprint: string;
  readonly pool: UpstreamPool;
  /** The model id requests carry; undefined: each upstream's configured one. */
  readonly model: string | undefined;
  readonly #running = new Set<Promise<unknown>>();
  #retired = false;

  constructor(pool: UpstreamPool, model?: string) {
    this.pool = pool;
    this.model = model;
    this.fingerprint = `medgate-upstream-${pool.name}${model ? `-${model}` : ""}`;
  }

  get disposed(): boolean {
    return this.#retired;
  }

  get stats(): BackendStats {
    return {
      size: this.pool.capacity,
      inUse: this.pool.outstanding,
      queued: 0,
      upstreams: this.pool.stats.map(({ name, outstanding, maxConcurrency, healthy }) => ({
        name,
        outstanding,
        maxConcurrency,
        healthy,
      })),
    };
  }

  async startChat(request: ChatRequest, signal: AbortSignal): Promise<ChatAnswer> {
    if (request.logprobs) {
      throw new BadRequestError(
        "logprobs come from medgate's in-process engine; this model is answered by another server.",
        "logprobs",
      );
    }
    const answer = new UpstreamAnswer(this.pool, this.model, request, signal);
    const settled = answer.result.catch(() => {});
    this.#running.add(settled);
    void settled.finally(() => this.#running.delete(settled));
    await answer.started;
    return answer;
  }

  async retire(): Promise<void> {
    this.#retired = true;
    await Promise.all([...this.#running]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.retire();
  }
}

/** The upstream chat-completions body of one choice: only what the client set, the rest is the upstream's default. */
export function upstreamChatBody(request: ChatRequest, model: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    messages: request.messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  const sampling = request.sampling ?? {};
  if (sampling.temperature !== undefined) body.temperature = sampling.temperature;
  if (sampling.topP !== undefined) body.top_p = sampling.topP;
  if (sampling.topK !== undefined) body.top_k = sampling.topK;
  if (sampling.minP !== undefined) body.min_p = sampling.minP;
  if (sampling.repeatPenalty !== undefined) {
    // llama.cpp's name, and vLLM's and SGLang's.
    body.repeat_penalty = sampling.repeatPenalty;
    body.repetition_penalty = sampling.repeatPenalty;
  }
  if (sampling.frequencyPenalty !== undefined) body.frequency_penalty = sampling.frequencyPenalty;
  if (sampling.presencePenalty !== undefined) body.presence_penalty = sampling.presencePenalty;
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.stop && request.stop.length > 0) body.stop = request.stop;
  const format = request.responseFormat;
  if (format?.type === "json_object") body.response_format = { type: "json_object" };
  if (format?.type === "json_schema") {
    body.response_format = { type: "json_schema", json_schema: { name: "response", schema: format.schema } };
  }
  return body;
}

async function retryClosed<T>(attempt: () => Promise<T>, tries: number): Promise<T> {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof AttemptFailed && error.closedBeforeResponse) || tried >= tries) throw error;
    }
  }
}

/** A failure of one upstream on one attempt: the next attempt goes to another upstream when no text was sent. */
class AttemptFailed extends Error {
  override name = "AttemptFailed";
  constructor(
    message: string,
    /** The connection was closed before any response: a kept-alive socket the upstream had closed meanwhile. */
    readonly closedBeforeResponse = false,
  ) {
    super(message);
  }
}

type Usage = { prompt_tokens?: number; completion_tokens?: number };
type StreamChunk = {
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: Usage | null;
  error?: { message?: string };
};

class UpstreamAnswer implements ChatAnswer {
  readonly result: Promise<ChatResult>;
  /** Settles once the first upstream accepted the request (headers 2xx), or with what refused it. */
  readonly started: Promise<void>;
  readonly #abort = new AbortController();
  readonly #deltas = new DeltaQueue("An upstream answer");
  #upstream: string | undefined;
  #markStarted!: (error?: unknown) => void;

  constructor(pool: UpstreamPool, model: string | undefined, request: ChatRequest, signal: AbortSignal) {
    const onCallerAbort = () => this.#abort.abort(signal.reason);
    if (signal.aborted) onCallerAbort();
    else signal.addEventListener("abort", onCallerAbort, { once: true });
    let isStarted = false;
    this.started = new Promise<void>((resolve, reject) => {
      this.#markStarted = (error) => {
        if (isStarted) return;
        isStarted = true;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    this.result = this.#run(pool, model, request).finally(() => {
      signal.removeEventListener("abort", onCallerAbort);
      this.#deltas.end();
    });
    this.result.then(
      () => this.#markStarted(),
      (error: unknown) => this.#markStarted(error),
    );
    this.result.catch(() => {});
  }

  get upstream(): string | undefined {
    return this.#upstream;
  }

  cancel(reason?: unknown): void {
    this.#abort.abort(reason);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatDelta> {
    return this.#deltas.read(this.result);
  }

  async #run(pool: UpstreamPool, model: string | undefined, request: ChatRequest): Promise<ChatResult> {
    const begun = performance.now();
    const state: AttemptState = { text: "", chunks: 0, firstTextAt: null, usage: null, finish: null };
    const tried = new Set<Upstream>();
    let lastFailure: AttemptFailed | undefined;
    for (;;) {
      if (this.#abort.signal.aborted) return resultOf(state, "cancelled", begun);
      let lease: UpstreamLease;
      try {
        lease =
          tried.size === 0
            ? pool.acquire()
            : await pool.acquireWaiting(tried, pool.retryWaitMs, this.#abort.signal);
      } catch (error) {
        if (this.#abort.signal.aborted) return resultOf(state, "cancelled", begun);
        // Every upstream tried: the last one's failure says what happened.
        throw lastFailure
          ? new ApiError(503, lastFailure.message, "service_unavailable", null, "upstream_failed")
          : error;
      }
      tried.add(lease.upstream);
      this.#upstream = lease.upstream.name;
      try {
        const attempt = () =>
          this.#attempt(lease.upstream, model ?? lease.upstream.config.model, request, state, begun);
        // The request never reached the upstream (llama-server closes kept-alive connections without saying
        // so, several at once under load): again, up to 3 times in all, before counting it as the upstream's
        // failure. Each closed socket is dropped from the pool, so a retry takes another or a new one.
        const finish = await retryClosed(attempt, 3);
        lease.done(finish === "cancelled" ? "client" : "ok");
        return resultOf(state, finish, begun);
      } catch (error) {
        if (!(error instanceof AttemptFailed)) {
          // The upstream refused the request itself (4xx): not its failure, and no other would differ.
          lease.done("ok");
          throw error;
        }
        lease.done("failed");
        lastFailure = error;
        // Text already reached the client: the answer cannot be restarted elsewhere.
        if (state.text !== "")
          throw new ApiError(502, error.message, "server_error", null, "upstream_failed");
      }
    }
  }

  /** One request to one upstream, its deltas pushed as they come; `AttemptFailed` when the upstream failed. */
  async #attempt(
    upstream: Upstream,
    model: string,
    request: ChatRequest,
    state: AttemptState,
    begun: number,
  ): Promise<FinishReason> {
    const { timeouts } = upstream.config;
    const attempt = new AbortController();
    const stop = () => attempt.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener("abort", stop, { once: true });
    const total = setTimeout(
      () =>
        attempt.abort(
          new AttemptFailed(`upstream ${upstream.name} did not finish within ${timeouts.totalMs} ms`),
        ),
      Math.max(1, timeouts.totalMs - (performance.now() - begun)),
    );
    const where = `upstream ${upstream.name} (${upstream.config.url})`;
    try {
      let response: Response;
      const headersTimer = setTimeout(
        () =>
          attempt.abort(
            new AttemptFailed(`${where} sent no response headers within ${timeouts.headersMs} ms`),
          ),
        timeouts.headersMs,
      );
      try {
        response = await fetch(`${upstream.config.url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream", ...upstream.headers() },
          body: JSON.stringify(upstreamChatBody(request, model)),
          signal: attempt.signal,
        });
      } catch (error) {
        if (this.#abort.signal.aborted) return "cancelled";
        if (attempt.signal.reason instanceof AttemptFailed) throw attempt.signal.reason;
        throw new AttemptFailed(`${where} failed: ${causeOf(error)}`, closedBeforeResponse(error));
      } finally {
        clearTimeout(headersTimer);
      }
      if (!response.ok) throw await refusalOf(response, where);
      this.#markStarted();
      if (!response.body) throw new AttemptFailed(`${where} answered without a body`);
      const idle = () => new AttemptFailed(`${where} sent nothing for ${timeouts.idleMs} ms`);
      try {
        for await (const data of sseData(response.body, timeouts.idleMs, idle)) {
          if (data === "[DONE]") break;
          this.#take(parseChunk(data, where), state, where);
        }
      } catch (error) {
        if (this.#abort.signal.aborted) return "cancelled";
        if (error instanceof AttemptFailed) throw error;
        if (attempt.signal.reason instanceof AttemptFailed) throw attempt.signal.reason;
        throw new AttemptFailed(`${where} broke off its answer: ${causeOf(error)}`);
      }
      if (this.#abort.signal.aborted) return "cancelled";
      if (state.finish === null) throw new AttemptFailed(`${where} ended its answer without a finish reason`);
      return state.finish;
    } finally {
      clearTimeout(total);
      this.#abort.signal.removeEventListener("abort", stop);
    }
  }

  #take(chunk: StreamChunk, state: AttemptState, where: string): void {
    if (chunk.error)
      throw new AttemptFailed(`${where} failed mid-answer: ${chunk.error.message ?? "error event"}`);
    if (chunk.usage) state.usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    const text = choice.delta?.content ?? "";
    if (text !== "") {
      state.firstTextAt ??= performance.now();
      state.text += text;
      state.chunks++;
      this.#deltas.push({ text, tokens: 1 });
    }
    if (choice.finish_reason) state.finish = choice.finish_reason === "length" ? "length" : "stop";
  }
}

type AttemptState = {
  text: string;
  /** Text chunks received: the token count when the upstream reports no usage. */
  chunks: number;
  firstTextAt: number | null;
  usage: Usage | null;
  finish: FinishReason | null;
};

function resultOf(state: AttemptState, finishReason: FinishReason, begun: number): ChatResult {
  return {
    text: state.text,
    finishReason,
    promptTokens: state.usage?.prompt_tokens ?? 0,
    completionTokens: state.usage?.completion_tokens ?? state.chunks,
    timeToFirstTokenMs: state.firstTextAt === null ? null : state.firstTextAt - begun,
    generationMs: performance.now() - begun,
  };
}

function parseChunk(data: string, where: string): StreamChunk {
  try {
    return JSON.parse(data) as StreamChunk;
  } catch {
    throw new AttemptFailed(`${where} sent an event that is not JSON: ${data.slice(0, 200)}`);
  }
}

/**
 * What a non-2xx answer means: a 4xx other than 408/429 refuses the request itself (its message goes to the
 * client as a 400); anything else is the upstream's failure, tried again elsewhere.
 */
async function refusalOf(response: Response, where: string): Promise<Error> {
  const text = await response.text().catch(() => "");
  let error: { message?: unknown; param?: unknown; code?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    error =
      typeof parsed.error === "object" && parsed.error !== null
        ? parsed.error
        : { message: parsed.message ?? parsed.error };
  } catch {
    error = undefined;
  }
  const message =
    typeof error?.message === "string" && error.message !== "" ? error.message : text.slice(0, 500);
  const { status } = response;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429 && status !== 401 && status !== 403) {
    return new BadRequestError(
      message || `The upstream refused the request (${status}).`,
      typeof error?.param === "string" ? error.param : null,
      typeof error?.code === "string" ? error.code : "upstream_rejected",
    );
  }
  return new AttemptFailed(`${where} answered ${status}${message ? `: ${message}` : ""}`);
}
