// Turns a validated OpenAI chat request into the engine's request, refusing what the engine cannot do.
import type {
  ChatMessage,
  ChatRequest,
  ResponseConstraint,
  SamplingOptions,
} from "../../inference/chatTypes.ts";
import type { ChatCompletionRequest, ChatMessageInput } from "../protocol.ts";

export function toEngineRequest(request: ChatCompletionRequest): ChatRequest {
  return {
    messages: request.messages.map(toEngineMessage),
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    sampling: samplingOf(request),
    seed: request.seed ?? undefined,
    stop: stopOf(request),
    responseFormat: toConstraint(request),
    ...(request.logprobs ? { logprobs: { top: request.top_logprobs ?? 0 } } : {}),
  };
}

type SamplingFields = Pick<
  ChatCompletionRequest,
  | "temperature"
  | "top_p"
  | "top_k"
  | "min_p"
  | "repeat_penalty"
  | "frequency_penalty"
  | "presence_penalty"
  | "stop"
>;

/** The sampling a request sets (the rest is the engine's default), for chat and text completions alike. */
export function samplingOf(request: SamplingFields): Partial<SamplingOptions> {
  const sampling: Partial<SamplingOptions> = {};
  if (request.temperature != null) sampling.temperature = request.temperature;
  if (request.top_p != null) sampling.topP = request.top_p;
  if (request.top_k != null) sampling.topK = request.top_k;
  if (request.min_p != null) sampling.minP = request.min_p;
  if (request.repeat_penalty != null) sampling.repeatPenalty = request.repeat_penalty;
  if (request.frequency_penalty != null) sampling.frequencyPenalty = request.frequency_penalty;
  if (request.presence_penalty != null) sampling.presencePenalty = request.presence_penalty;
  return sampling;
}

/** The request's stop strings as a list (the schema refuses empty ones). */
export function stopOf(request: SamplingFields): string[] {
  return request.stop == null ? [] : typeof request.stop === "string" ? [request.stop] : request.stop;
}

/** A message as the engine reads it: `developer` is `system`, text parts are joined by newlines. */
export function toEngineMessage(message: ChatMessageInput): ChatMessage {
  const role = message.role === "developer" ? "system" : message.role;
  const content = message.content ?? "";
  return {
    role,
    content: typeof content === "string" ? content : content.map((part) => part.text).join("\n"),
  };
}

function toConstraint(request: ChatCompletionRequest): ResponseConstraint | undefined {
  const format = request.response_format;
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  return { type: "json_schema", schema: format.json_schema.schema };
}
