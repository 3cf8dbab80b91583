// The chat-completions service: runs a validated request on the served model, whole or as SSE chunks.
import { randomBytes } from "node:crypto";
import { context as otelContext } from "@opentelemetry/api";
import type { ChatRequest, ChatResult } from "../../inference/chatTypes.ts";
import type { Caller } from "../auth/ApiKeyAuth.ts";
import { errorBody, NotFoundError, toApiError, UnavailableError } from "../errors.ts";
import {
  type CompletionOutcome,
  type CompletionRecorder,
  completionRecord,
} from "../log/completionRecord.ts";
import type { ChatAnswer, ChatBackend } from "../models/ChatBackend.ts";
import { answererOf, type ServedCanary, type ServedModels, shadowOf } from "../models/ServedModels.ts";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage } from "../protocol.ts";
import { ChatTelemetry, type ChatTraceOptions } from "../telemetry/chatTelemetry.ts";
import { chatLogprobsOf } from "./chatLogprobs.ts";
import { toEngineRequest } from "./chatRequestMapping.ts";

export type ChatCompletionOutcome =
  | { kind: "json"; body: ChatCompletion; engineMs: number }
  | { kind: "stream"; body: ReadableStream<Uint8Array>; engineMs: number };

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(18).toString("base64url")}`;
}

/** Who asked, and where the answer is recorded. */
export type ChatCompletionContext = {
  models: ServedModels;
  log: CompletionRecorder;
  caller: Caller;
  /** The trace the request belongs to, or its request id; stored in the log row. */
  traceId: string;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** Where the completion's span goes. */
  trace: ChatTraceOptions;
};

/** Runs the completion inside its `chat {model}` span, which ends with the completion or its failure. */
export async function createChatCompletion(
  context: ChatCompletionContext,
  request: ChatCompletionRequest,
  requestSignal: AbortSignal,
): Promise<ChatCompletionOutcome> {
  const telemetry = new ChatTelemetry(request, context.trace);
  try {
    return await otelContext.with(telemetry.context, () =>
      answer(context, request, requestSignal, telemetry),
    );
  } catch (error) {
    telemetry.fail(error);
    throw error;
  }
}

async function answer(
  context: ChatCompletionContext,
  request: ChatCompletionRequest,
  requestSignal: AbortSignal,
  telemetry: ChatTelemetry,
): Promise<ChatCompletionOutcome> {
  const { models } = context;
  const served = models.get(request.model);
  if (!served) {
    if (!models.ready)
      throw new UnavailableError("The model is still loading. Retry when GET /ready answers 200.");
    throw new NotFoundError(`The model \`${request.model}\` does not exist.`, "model", "model_not_found");
  }
  const engineRequest = toEngineRequest(request);
  // During a split canary its candidate answers its share of the requests; the row records who and under which canary.
  const answerer = answererOf(served);
  telemetry.answeredBy(served.name, answerer.versionId, engineRequest.messages);
  const abort = new AbortController();
  const onRequestAbort = () => abort.abort(requestSignal.reason);
  requestSignal.addEventListener("abort", onRequestAbort, { once: true });
  const startedAt = performance.now();
  let streams: ChatAnswer[];
  try {
    streams = await startChoices(answerer.backend, engineRequest, request.n ?? 1, abort.signal);
  } catch (error) {
    requestSignal.removeEventListener("abort", onRequestAbort);
    throw error;
  }
  const createdAt = new Date();
  const header: ChunkHeader = {
    id: newCompletionId(),
    created: Math.floor(createdAt.getTime() / 1000),
    model: served.name,
    system_fingerprint: answerer.backend.fingerprint,
  };
  const startupMs = performance.now() - context.receivedAt;
  // Every response that got an id is recorded once, whatever its end. The promise resolves once the row is
  // durable: the end of an answer (its JSON body, or a stream's last chunks and [DONE]) waits for it.
  const record = (outcome: CompletionOutcome): Promise<void> => {
    const row = completionRecord({
      id: header.id,
      createdAt,
      request,
      messages: engineRequest.messages,
      modelName: served.name,
      modelVersionId: answerer.versionId,
      canaryId: answerer.canaryId,
      upstream: upstreamsOf(streams),
      caller: context.caller,
      traceId: context.traceId,
      latencyMs: performance.now() - context.receivedAt,
      startupMs,
      outcome,
    });
    const durable = context.log.record(row);
    telemetry.finish(header.id, outcome, row.timeToFirstTokenMs ?? null);
    // A shadow canary answers the same request again once the live answer is durable, never before or instead.
    const shadow = outcome.kind === "answered" ? shadowOf(served) : undefined;
    if (shadow) {
      void durable
        .then(() =>
          answerInShadow(context, shadow, {
            request,
            engineRequest,
            liveId: header.id,
            modelName: served.name,
          }),
        )
        .catch(() => {});
    }
    return durable;
  };
  if (request.stream) {
    const engineMs = performance.now() - startedAt;
    const includeUsage = request.stream_options?.include_usage === true;
    const body = sseBody(streams, header, includeUsage, abort, (outcome) => {
      requestSignal.removeEventListener("abort", onRequestAbort);
      return record(outcome);
    });
    return { kind: "stream", body, engineMs };
  }
  try {
    const outcome = await settle(
      streams.map((stream) => stream.result),
      abort.signal,
    );
    const durable = record(outcome);
    if (outcome.kind === "failed") {
      await durable.catch(() => {}); // the engine's failure is the one to report
      throw outcome.cause;
    }
    if (outcome.kind === "cancelled") {
      void durable.catch(() => {}); // nobody waits for a cancelled answer
      throw abort.signal.reason ?? new Error("The request was cancelled.");
    }
    await durable; // not durable: the answer is not sent, and its error says why
    const { results } = outcome;
    const body: ChatCompletion = {
      id: header.id,
      object: "chat.completion",
      created: header.created,
      model: header.model,
      choices: results.map((result, index) => ({
        index,
        message: { role: "assistant", content: result.text, refusal: null },
        logprobs: chatLogprobsOf(result.logprobs),
        finish_reason: result.finishReason === "length" ? "length" : "stop",
      })),
      usage: usageOf(results),
      system_fingerprint: header.system_fingerprint,
    };
    return { kind: "json", body, engineMs: performance.now() - startedAt };
  } finally {
    requestSignal.removeEventListener("abort", onRequestAbort);
  }
}

/**
 * The shadow canary's candidate answers a live request again, with the same parameters, in the background: its row
 * is tied to the live one (`shadow_of`) and never reaches the client. A candidate that refuses (overloaded) or fails
 * drops the shadow answer; a failure is logged as its row, which counts against the candidate's error rate.
 */
async function answerInShadow(
  context: ChatCompletionContext,
  canary: ServedCanary,
  live: { request: ChatCompletionRequest; engineRequest: ChatRequest; liveId: string; modelName: string },
): Promise<void> {
  const receivedAt = performance.now();
  const abort = new AbortController();
  let streams: ChatAnswer[];
  try {
    streams = await startChoices(canary.backend, live.engineRequest, live.request.n ?? 1, abort.signal);
  } catch {
    return;
  }
  const createdAt = new Date();
  const startupMs = performance.now() - receivedAt;
  const outcome = await settle(
    streams.map((stream) => stream.result),
    abort.signal,
  );
  await context.log.record(
    completionRecord({
      id: newCompletionId(),
      createdAt,
      request: live.request,
      messages: live.engineRequest.messages,
      modelName: live.modelName,
      modelVersionId: canary.versionId,
      canaryId: canary.id,
      shadowOf: live.liveId,
      upstream: upstreamsOf(streams),
      caller: context.caller,
      traceId: context.traceId,
      latencyMs: performance.now() - receivedAt,
      startupMs,
      outcome,
    }),
  );
}

/**
 * Waits for every choice; a failure of any one fails the completion, a cancelled one (or a client that
 * left) cancels it.
 */
async function settle(choices: Promise<ChatResult>[], signal: AbortSignal): Promise<CompletionOutcome> {
  const settled = await Promise.allSettled(choices);
  const results = settled.flatMap((entry) => (entry.status === "fulfilled" ? [entry.value] : []));
  const failure = settled.find((entry) => entry.status === "rejected");
  if (failure) {
    const cause = failure.reason;
    return { kind: "failed", error: cause instanceof Error ? cause.message : String(cause), results, cause };
  }
  if (signal.aborted || results.some((result) => result.finishReason === "cancelled")) {
    return { kind: "cancelled", results };
  }
  return { kind: "answered", results };
}

async function startChoices(
  backend: ChatBackend,
  request: ChatRequest,
  n: number,
  signal: AbortSignal,
): Promise<ChatAnswer[]> {
  const streams: ChatAnswer[] = [];
  try {
    for (let index = 0; index < n; index++) {
      // Distinct seeds per choice, so n choices with a seed differ from each other yet stay reproducible.
      const seed = request.seed === undefined ? undefined : request.seed + index;
      streams.push(await backend.startChat({ ...request, seed }, signal));
    }
    return streams;
  } catch (error) {
    for (const stream of streams) stream.cancel();
    throw error;
  }
}

function usageOf(results: ChatResult[]): Usage {
  // The prompt is the same for every choice; OpenAI counts it once.
  const promptTokens = results[0]?.promptTokens ?? 0;
  const completionTokens = results.reduce((sum, result) => sum + result.completionTokens, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The upstreams that answered the choices, or null when medgate's own engine did. */
function upstreamsOf(streams: ChatAnswer[]): string | null {
  const names = [...new Set(streams.flatMap((stream) => (stream.upstream ? [stream.upstream] : [])))];
  return names.length === 0 ? null : names.join(",");
}

type ChunkHeader = Pick<ChatCompletionChunk, "id" | "created" | "model" | "system_fingerprint">;

function sseBody(
  streams: ChatAnswer[],
  header: ChunkHeader,
  includeUsage: boolean,
  abort: AbortController,
  onClose: (outcome: CompletionOutcome) => Promise<void>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (data: unknown) => {
        if (abort.signal.aborted) return;
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
      };
      const chunk = (choices: ChatCompletionChunk["choices"], usage?: Usage): ChatCompletionChunk => ({
        id: header.id,
        object: "chat.completion.chunk",
        created: header.created,
        model: header.model,
        system_fingerprint: header.system_fingerprint,
        choices,
        ...(includeUsage ? { usage: usage ?? null } : {}),
      });
      // The text flows at once; each choice's last chunk is held until the record is durable.
      const lastChunks: ChatCompletionChunk[] = [];
      const runChoice = async (stream: ChatAnswer, index: number): Promise<ChatResult> => {
        send(
          chunk([{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]),
        );
        for await (const delta of stream) {
          if (delta.text === "") continue;
          const logprobs = chatLogprobsOf(delta.logprobs);
          send(chunk([{ index, delta: { content: delta.text }, logprobs, finish_reason: null }]));
        }
        const result = await stream.result;
        lastChunks.push(
          chunk([
            {
              index,
              delta: {},
              logprobs: null,
              finish_reason: result.finishReason === "length" ? "length" : "stop",
            },
          ]),
        );
        return result;
      };
      const finish = async () => {
        const outcome = await settle(streams.map(runChoice), abort.signal);
        if (outcome.kind === "failed") for (const stream of streams) stream.cancel();
        try {
          await onClose(outcome);
        } catch (error) {
          // Not durable: the answer never ends, and its one error event says why.
          send(errorBody(toApiError(error)));
          if (!abort.signal.aborted) controller.close();
          return;
        }
        if (outcome.kind === "failed") {
          // Headers are gone: a failure after the first byte becomes one error event.
          send(errorBody(toApiError(outcome.cause)));
        } else {
          for (const last of lastChunks) send(last);
          if (outcome.kind === "answered" && includeUsage) send(chunk([], usageOf(outcome.results)));
        }
        if (abort.signal.aborted) return;
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      };
      void finish();
    },
    cancel(reason) {
      abort.abort(reason);
      for (const stream of streams) stream.cancel(reason);
    },
  });
}
