// Typed failures of the inference engine; the gateway maps them onto HTTP statuses.

/** Base class of every error the engine throws on purpose. */
export class InferenceError extends Error {
  override name = "InferenceError";
}

/** All sequences are busy and the wait queue is full. */
export class OverloadedError extends InferenceError {
  override name = "OverloadedError";
  constructor(
    message: string,
    /** Seconds a client should wait before retrying. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The prompt (plus the requested completion budget) does not fit in a sequence's context. */
export class ContextLengthExceededError extends InferenceError {
  override name = "ContextLengthExceededError";
  constructor(
    readonly contextSize: number,
    readonly promptTokens: number,
    readonly requestedCompletionTokens: number | undefined,
  ) {
    super(
      requestedCompletionTokens === undefined
        ? `This model's maximum context length is ${contextSize} tokens. However, your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`
        : `This model's maximum context length is ${contextSize} tokens. However, you requested ${promptTokens + requestedCompletionTokens} tokens (${promptTokens} in the messages, ${requestedCompletionTokens} in the completion). Please reduce the length of the messages or completion.`,
    );
  }
}

/** A request the engine cannot honour as asked (an unsupported JSON schema, an empty conversation, ...). */
export class InvalidGenerationRequestError extends InferenceError {
  override name = "InvalidGenerationRequestError";
  constructor(
    message: string,
    /** The request field at fault, in the caller's terms. */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** The engine was disposed or is not loaded. */
export class EngineUnavailableError extends InferenceError {
  override name = "EngineUnavailableError";
}
