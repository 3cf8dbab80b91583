// The gateway's typed HTTP errors and the one mapper that turns any thrown value into OpenAI's error shape.

import { databaseUnavailable } from "../db/databaseErrors.ts";
import {
  ContextLengthExceededError,
  EngineUnavailableError,
  InvalidGenerationRequestError,
  OverloadedError,
} from "../inference/errors.ts";
import { SamplingFailedError } from "../inference/samplerGuard.ts";

export type OpenAIErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null };
};

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 502 | 503,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string, param: string | null = null, code: string | null = null) {
    super(400, message, "invalid_request_error", param, code);
  }
}

export class UnauthorizedError extends ApiError {
  constructor(message = "Missing or invalid API key.") {
    super(401, message, "authentication_error", null, "invalid_api_key");
  }
}

export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super(403, message, "permission_error", null, "insufficient_role");
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string, param: string | null = null, code: string | null = null) {
    super(404, message, "invalid_request_error", param, code);
  }
}

/** A documented path asked with a method it does not answer; `Allow` lists the ones it does (RFC 9110). */
export class MethodNotAllowedError extends ApiError {
  constructor(method: string, path: string, allowed: readonly string[]) {
    super(
      405,
      `${path} does not answer ${method}; it answers ${allowed.join(", ")}.`,
      "invalid_request_error",
      null,
      "method_not_allowed",
      { Allow: allowed.join(", ") },
    );
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(limitBytes: number) {
    super(
      413,
      `Request body is larger than the limit of ${limitBytes} bytes.`,
      "invalid_request_error",
      null,
      "request_too_large",
    );
  }
}

export class UnsupportedMediaTypeError extends ApiError {
  constructor(message: string) {
    super(415, message, "invalid_request_error", null, "unsupported_media_type");
  }
}

export class OverloadedApiError extends ApiError {
  constructor(message: string, retryAfterSeconds: number) {
    super(429, message, "server_overloaded", null, "overloaded", {
      "Retry-After": String(retryAfterSeconds),
    });
  }
}

/**
 * A key over its own requests or generated tokens per minute, in OpenAI's shape (`type` names the limit,
 * `code` is `rate_limit_exceeded`); distinct from the shared queue's `overloaded`.
 */
export class RateLimitedError extends ApiError {
  constructor(message: string, limit: "requests" | "tokens", headers: Record<string, string>) {
    super(429, message, limit, null, "rate_limit_exceeded", headers);
  }
}

export class UnavailableError extends ApiError {
  constructor(message: string, code = "not_ready") {
    super(503, message, "service_unavailable", null, code);
  }
}

/** An answer whose record could not be made durable (database and spool both unavailable) is not sent. */
export class LogUnavailableError extends ApiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, message, "service_unavailable", null, "log_unavailable", { "retry-after": "1" });
    if (options) this.cause = options.cause;
  }
}

/** Maps engine errors onto their HTTP meaning; anything unknown is a 500 that leaks no internals. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ContextLengthExceededError) {
    return new BadRequestError(error.message, "messages", "context_length_exceeded");
  }
  if (error instanceof InvalidGenerationRequestError) return new BadRequestError(error.message, error.param);
  if (error instanceof OverloadedError) return new OverloadedApiError(error.message, error.retryAfterSeconds);
  if (error instanceof EngineUnavailableError) return new UnavailableError(error.message);
  if (databaseUnavailable(error))
    return new UnavailableError("The database is unavailable. Retry shortly.", "database_unavailable");
  // The engine's own failure on this one request: a server error, but its message says what happened.
  if (error instanceof SamplingFailedError)
    return new ApiError(500, error.message, "server_error", null, "sampling_failed");
  return new ApiError(500, "The server had an error while processing your request.", "server_error");
}

export function errorBody(error: ApiError): OpenAIErrorBody {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}
