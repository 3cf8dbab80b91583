// The `chat {model}` span of a chat completion, with the GenAI conventions' attributes, and its metrics:
// token usage, request duration, time to first token, time per output token. Message contents go on the span
// only when asked for (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT): they are patient data.
import { type Context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { OverloadedError } from "../../inference/errors.ts";
import { toApiError } from "../errors.ts";
import type { CompletionOutcome } from "../log/completionRecord.ts";
import type { ChatCompletionRequest } from "../protocol.ts";
import { gatewayInstruments, genAi, providerName, tracer } from "./instruments.ts";

export type ChatTraceOptions = {
  /** The request's server span context, the parent of the chat span. */
  parent: Context;
  /** Put the conversation and the answers on the span. Default: false */
  captureMessageContent?: boolean;
  server?: { address: string; port: number };
};

type Attributes = Record<string, string | number | boolean | string[]>;

/** Lives from the request's validation to its last byte (or its failure), and ends once. */
export class ChatTelemetry {
  readonly #span: Span;
  readonly #capture: boolean;
  readonly #metricAttributes: Attributes;
  readonly #started = performance.now();
  #ended = false;
  /** The chat span's context: the engine's spans are its children. */
  readonly context: Context;

  constructor(request: ChatCompletionRequest, options: ChatTraceOptions) {
    this.#capture = options.captureMessageContent ?? false;
    const attributes: Attributes = {
      [genAi.operation]: "chat",
      [genAi.provider]: providerName,
      [genAi.requestModel]: request.model,
      [genAi.choiceCount]: request.n ?? 1,
      [genAi.stream]: request.stream === true,
    };
    const maxTokens = request.max_completion_tokens ?? request.max_tokens;
    if (maxTokens != null) attributes[genAi.maxTokens] = maxTokens;
    if (request.temperature != null) attributes[genAi.temperature] = request.temperature;
    if (request.top_p != null) attributes[genAi.topP] = request.top_p;
    if (request.top_k != null) attributes[genAi.topK] = request.top_k;
    if (request.seed != null) attributes[genAi.seed] = request.seed;
    if (request.stop != null)
      attributes[genAi.stopSequences] = typeof request.stop === "string" ? [request.stop] : request.stop;
    if (options.server) {
      attributes["server.address"] = options.server.address;
      attributes["server.port"] = options.server.port;
    }
    this.#span = tracer.startSpan(
      `chat ${request.model}`,
      { kind: SpanKind.INTERNAL, attributes },
      options.parent,
    );
    this.context = trace.setSpan(options.parent, this.#span);
    this.#metricAttributes = {
      [genAi.operation]: "chat",
      [genAi.provider]: providerName,
      [genAi.requestModel]: request.model,
    };
  }

  /** The served model that answers, and the messages it was given. */
  answeredBy(model: string, versionId: string | null, messages: ChatMessage[]): void {
    this.#span.setAttribute(genAi.responseModel, model);
    if (versionId) this.#span.setAttribute("medgate.model.version_id", versionId);
    this.#metricAttributes[genAi.responseModel] = model;
    if (this.#capture) {
      const input = messages.map((message) => ({
        role: message.role,
        parts: [{ type: "text", content: message.content }],
      }));
      this.#span.setAttribute(genAi.inputMessages, JSON.stringify(input));
    }
  }

  /** The completion's end, whatever it was: the response's attributes, then the metrics. */
  finish(id: string, outcome: CompletionOutcome, timeToFirstTokenMs: number | null): void {
    if (this.#ended) return;
    this.#ended = true;
    const { results } = outcome;
    const inputTokens = results[0]?.promptTokens ?? 0;
    const outputTokens = results.reduce((sum, result) => sum + result.completionTokens, 0);
    this.#span.setAttributes({
      [genAi.responseId]: id,
      [genAi.finishReasons]: results.map((result) => result.finishReason),
      [genAi.inputTokens]: inputTokens,
      [genAi.outputTokens]: outputTokens,
    });
    if (this.#capture) {
      const output = results.map((result) => ({
        role: "assistant",
        parts: [{ type: "text", content: result.text }],
        finish_reason: result.finishReason,
      }));
      this.#span.setAttribute(genAi.outputMessages, JSON.stringify(output));
    }
    const instruments = gatewayInstruments();
    if (outcome.kind === "cancelled") instruments.cancelled.add(1, this.#metricAttributes);
    const errorType = outcome.kind === "failed" ? errorTypeOf(outcome.cause ?? outcome.error) : undefined;
    if (outcome.kind === "failed" && errorType) this.#markFailed(errorType, outcome.error);
    instruments.tokenUsage.record(inputTokens, { ...this.#metricAttributes, [genAi.tokenType]: "input" });
    instruments.tokenUsage.record(outputTokens, { ...this.#metricAttributes, [genAi.tokenType]: "output" });
    if (timeToFirstTokenMs !== null) {
      this.#span.setAttribute("medgate.time_to_first_token_ms", timeToFirstTokenMs);
      instruments.timeToFirstToken.record(timeToFirstTokenMs / 1000, this.#metricAttributes);
      const first = results[0];
      if (first && first.completionTokens > 1 && first.timeToFirstTokenMs !== null) {
        const perToken = (first.generationMs - first.timeToFirstTokenMs) / (first.completionTokens - 1);
        instruments.timePerOutputToken.record(perToken / 1000, this.#metricAttributes);
      }
    }
    this.#endWith(errorType);
  }

  /** A request that ended before it had an answer: refused, overloaded, or a failure of the engine. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error instanceof OverloadedError) gatewayInstruments().overloaded.add(1, this.#metricAttributes);
    const errorType = errorTypeOf(error);
    this.#markFailed(errorType, error instanceof Error ? error.message : String(error));
    this.#endWith(errorType);
  }

  #markFailed(errorType: string, message: string): void {
    this.#span.setAttribute("error.type", errorType);
    this.#span.setStatus({ code: SpanStatusCode.ERROR, message: message.split("\n")[0] });
  }

  #endWith(errorType: string | undefined): void {
    this.#span.end();
    const seconds = (performance.now() - this.#started) / 1000;
    gatewayInstruments().requestDuration.record(seconds, {
      ...this.#metricAttributes,
      ...(errorType ? { "error.type": errorType } : {}),
    });
  }
}

/** `error.type` in OpenAI's words: the error code (`model_not_found`, `overloaded`...) or its type. */
function errorTypeOf(error: unknown): string {
  const api = toApiError(error);
  return api.code ?? api.type;
}
