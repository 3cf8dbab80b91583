// Turns a validated OpenAI chat request into the engine's request, refusing what the engine cannot do.
import type {
  ChatMessage,
  ChatRequest,
  ResponseConstraint,
  SamplingOptions,
} from "../../inference/chatTypes.ts";
import { BadRequestError } from "../errors.ts";
import type { ChatCompletionRequest, ChatMessageInput } from "../protocol.ts";

export function toEngineRequest(request: ChatCompletionRequest): ChatRequest {
  if (request.tools && request.tools.length > 0) {
    throw new BadRequestError("Tool calling is not supported by this server.", "tools");
  }
  if (request.logprobs) throw new BadRequestError("logprobs are not supported by this server.", "logprobs");
  return {
    messages: request.messages.map(toEngineMessage),
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    sampling: samplingOf(request),
    seed: request.seed ?? undefined,
    stop: stopOf(request),
    responseFormat: toConstraint(request),
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

/** The request's stop strings as a list; an empty one is refused. */
export function stopOf(request: SamplingFields): string[] {
  const stop = request.stop == null ? [] : typeof request.stop === "string" ? [request.stop] : request.stop;
  if (stop.some((value) => value === ""))
    throw new BadRequestError("Stop strings must not be empty.", "stop");
  return stop;
}

export function toEngineMessage(message: ChatMessageInput, index: number): ChatMessage {
  const param = `messages[${index}]`;
  if (message.role === "tool" || message.role === "function") {
    throw new BadRequestError(`${message.role} messages are not supported by this server.`, `${param}.role`);
  }
  const role = message.role === "developer" ? "system" : message.role;
  const content = message.content;
  if (content == null) {
    if (role === "assistant") return { role, content: "" };
    throw new BadRequestError(`A ${message.role} message needs content.`, `${param}.content`);
  }
  if (typeof content === "string") return { role, content };
  const texts = content.map((part, partIndex) => {
    if (part.type !== "text" || typeof part.text !== "string") {
      throw new BadRequestError(
        `Content parts of type "${part.type}" are not supported; send text parts.`,
        `${param}.content[${partIndex}].type`,
      );
    }
    return part.text;
  });
  return { role, content: texts.join("\n") };
}

function toConstraint(request: ChatCompletionRequest): ResponseConstraint | undefined {
  const format = request.response_format;
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (!format.json_schema.schema) {
    throw new BadRequestError("json_schema.schema is required.", "response_format.json_schema.schema");
  }
  return { type: "json_schema", schema: format.json_schema.schema };
}
