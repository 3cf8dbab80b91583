// An OpenAI-compatible server that scores (medgate, vLLM, SGLang): its tokenizer and its echoed completions over
// HTTP, at most `parallel` requests in flight for every model asked of it, each with a timeout; a refusal, a
// failure to connect and a timeout become a ScorerRequestError naming the URL.
import { setTimeout as sleep } from "node:timers/promises";
import type { z } from "zod";
import {
  type EchoCompletionAnswer,
  type EchoCompletionRequest,
  echoCompletionAnswer,
  errorAnswer,
  type TokenizeAnswer,
  type TokenizeChatRequest,
  type TokenizerInfoAnswer,
  type TokenizeTextRequest,
  tokenizeAnswer,
  tokenizerInfoAnswer,
} from "./scoringProtocol.ts";

export type ScoringEndpointOptions = {
  /** Base URL of the server (`http://host:8000`), with or without a trailing `/v1`. */
  url: string;
  /** Sent as `Authorization: Bearer`. Default: none */
  apiKey?: string;
  /** Requests in flight at once, over every model of this endpoint. Default: 4 */
  parallel?: number;
  /** Milliseconds one request may take (a server loading a version on demand answers its first late). Default: 600000 */
  timeoutMs?: number;
  /** Default: the global fetch */
  fetch?: typeof fetch;
};

/** A scoring request that failed: the server refused it (`status`), or could not be reached or timed out. */
export class ScorerRequestError extends Error {
  override name = "ScorerRequestError";
  constructor(
    message: string,
    readonly url: string,
    readonly answer?: {
      status: number;
      message: string;
      param?: string | null;
      code?: string | number | null;
    },
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Tries of a request the server answered 429 or 503 (overloaded, still loading), Retry-After apart. */
const tries = 3;

export class ScoringEndpoint {
  /** The server's root, where `/tokenize` is; completions are under `/v1`. */
  readonly url: string;
  readonly parallel: number;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  /** Tokens each echo asks to generate: 0 until the server refuses it (vLLM wants at least 1). */
  #generated: 0 | 1 = 0;

  constructor(options: ScoringEndpointOptions) {
    this.url = rootOf(options.url);
    this.parallel = options.parallel ?? 4;
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? 600_000;
    this.#fetch = options.fetch ?? fetch;
  }

  get generatedTokens(): 0 | 1 {
    return this.#generated;
  }

  tokenize(
    request: TokenizeTextRequest | TokenizeChatRequest,
    signal?: AbortSignal,
  ): Promise<TokenizeAnswer> {
    return this.#post("/tokenize", request, tokenizeAnswer, signal);
  }

  /** `GET /tokenizer_info` (medgate's; vLLM's behind a flag): the context the server scores `model` in. */
  tokenizerInfo(model: string, signal?: AbortSignal): Promise<TokenizerInfoAnswer> {
    return this.#post(
      `/tokenizer_info?model=${encodeURIComponent(model)}`,
      { model },
      tokenizerInfoAnswer,
      signal,
      "GET",
    );
  }

  /** Scores token-id prompts by their echo. */
  echo(request: EchoCompletionRequest, signal?: AbortSignal): Promise<EchoCompletionAnswer> {
    return this.#post("/v1/completions", request, echoCompletionAnswer, signal);
  }

  /**
   * Whether `error` is the server refusing an echo of `max_tokens` 0 (vLLM wants at least 1): echoes then ask
   * for one token from now on, and the caller sends its request again.
   */
  learnFrom(error: unknown, generated: 0 | 1): boolean {
    const refusedZero =
      generated === 0 &&
      error instanceof ScorerRequestError &&
      error.answer?.status === 400 &&
      (error.answer.param === "max_tokens" || /max_tokens/u.test(error.answer.message));
    if (refusedZero) this.#generated = 1;
    return refusedZero;
  }

  async #post<T>(
    path: string,
    body: { model: string },
    schema: z.ZodType<T>,
    signal?: AbortSignal,
    method: "POST" | "GET" = "POST",
  ): Promise<T> {
    const url = `${this.url}${path}`;
    for (let attempt = 1; ; attempt++) {
      const { status, text, retryAfter } = await this.#send(
        url,
        method === "POST" ? body : undefined,
        signal,
      );
      if (status >= 200 && status < 300) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new ScorerRequestError(
            `The scorer at ${url} answered ${status} with a body that is not JSON.`,
            url,
          );
        }
        const result = schema.safeParse(parsed);
        if (!result.success) {
          const issue = result.error.issues[0]!;
          throw new ScorerRequestError(
            `The scorer at ${url} answered ${status} without the expected field ${issue.path.join(".") || "(body)"}: ${issue.message}`,
            url,
          );
        }
        return result.data;
      }
      if ((status === 429 || status === 503) && attempt < tries) {
        await sleep(Math.min(30, retryAfter ?? 1) * 1000, undefined, { signal }).catch((error: unknown) => {
          throw signal?.reason ?? error;
        });
        continue;
      }
      const error = errorAnswer.safeParse(safeJson(text));
      const answer = error.success
        ? { status, ...error.data.error }
        : { status, message: text.slice(0, 500) || "(no body)" };
      throw new ScorerRequestError(
        `The scorer at ${url} answered ${status} for model "${body.model}": ${answer.message}`,
        url,
        answer,
      );
    }
  }

  /** One request (a POST of `body`, else a GET) in one of the `parallel` slots, under the timeout and the caller's signal. */
  async #send(
    url: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; text: string; retryAfter: number | undefined }> {
    await this.#acquire(signal);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(url, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(this.#apiKey ? { authorization: `Bearer ${this.#apiKey}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      const text = await response.text();
      const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
      return {
        status: response.status,
        text,
        retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new ScorerRequestError(
          `The scorer at ${url} did not answer within ${this.#timeoutMs / 1000} s.`,
          url,
          undefined,
          { cause: error },
        );
      }
      throw new ScorerRequestError(
        `The scorer at ${url} could not be reached: ${reasonOf(error)}`,
        url,
        undefined,
        { cause: error },
      );
    } finally {
      this.#release();
    }
  }

  async #acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#inFlight < this.parallel) {
      this.#inFlight++;
      return;
    }
    // A waiter puts no listener on the caller's signal (a step has many requests waiting on one): aborted requests
    // in flight end at once and pass their slots on, and each waiter then sees the abort in turn.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (signal?.aborted) {
      this.#release();
      throw signal.reason;
    }
  }

  #release(): void {
    // The slot passes from the request that ends to the next in line directly.
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }
}

/** `http://host:8000/v1/` → `http://host:8000`: the root the tokenizer routes are at. */
export function rootOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`A scorer URL must be http or https, not ${url}.`);
  }
  return parsed.href.replace(/\/+$/u, "").replace(/\/v1$/u, "");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** fetch's "fetch failed" with what lies under it (ECONNREFUSED 127.0.0.1:9). */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  return cause?.message ? `${error.message} (${cause.message})` : error.message;
}
