// Per-key limits on the routes called with an API key (/v1, the tokenizer's): a request over its key's requests or
// generated tokens per minute is refused with 429, Retry-After and OpenAI's x-ratelimit-* headers; admitted
// responses carry the same headers.
import type { MiddlewareHandler } from "hono";
import { RateLimitedError } from "../errors.ts";
import type { CompletionRecorder } from "../log/completionRecord.ts";
import { gatewayInstruments } from "../telemetry/instruments.ts";
import type { Caller, Role } from "./ApiKeyAuth.ts";
import type { KeyLimits, RateLimiter, RateLimitState } from "./RateLimiter.ts";

/** The limits of keys that set none of their own, per role. */
export type RoleLimits = Record<Role, KeyLimits>;

const unlimited: KeyLimits = { requestsPerMinute: null, tokensPerMinute: null };
/** No role has a limit. */
export const noRoleLimits: RoleLimits = { client: unlimited, clinician: unlimited, admin: unlimited };

/** The caller's limits: its key's own where set, else its role's. */
export function limitsOf(caller: Caller, roleLimits: RoleLimits): KeyLimits {
  const own = caller.limits ?? {};
  const role = roleLimits[caller.role];
  return {
    requestsPerMinute: own.requestsPerMinute === undefined ? role.requestsPerMinute : own.requestsPerMinute,
    tokensPerMinute: own.tokensPerMinute === undefined ? role.tokensPerMinute : own.tokensPerMinute,
  };
}

/**
 * A duration as OpenAI's reset headers write it (Go's format): `12ms` under a second, else `7.66s`, `1m0s`.
 */
export function resetDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole === 0) return "0s";
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = `${Number(((whole % 60_000) / 1000).toFixed(3))}s`;
  return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}

/** The x-ratelimit-* headers of the limits a key has (none for a limit it does not have). */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ["requests", "tokens"] as const) {
    const limit = state[kind];
    if (!limit) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(limit.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(limit.remaining);
    headers[`x-ratelimit-reset-${kind}`] = resetDuration(limit.resetMs);
  }
  return headers;
}

/** Middleware after authentication: admits the caller's request against its key's limits, or throws 429. */
export function keyRateLimit(
  limiter: RateLimiter,
  roleLimits: RoleLimits,
): MiddlewareHandler<{ Variables: { caller: Caller } }> {
  return async (c, next) => {
    const caller = c.get("caller");
    const limits = limitsOf(caller, roleLimits);
    if (limits.requestsPerMinute === null && limits.tokensPerMinute === null) return next();
    const admission = await limiter.admit(caller.keyId, limits);
    if (!admission.admitted) {
      gatewayInstruments().rateLimited.add(1, {
        "medgate.rate_limit": admission.exceeded,
        "medgate.api_key.role": caller.role,
      });
      const retryAfterSeconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
      const what =
        admission.exceeded === "requests"
          ? `requests per minute (RPM): limit ${limits.requestsPerMinute}`
          : `generated tokens per minute (TPM): limit ${limits.tokensPerMinute}, remaining 0`;
      throw new RateLimitedError(
        `Rate limit reached for this API key on ${what}. Please try again in ${resetDuration(admission.retryAfterMs)}.`,
        admission.exceeded,
        { "Retry-After": String(retryAfterSeconds), ...rateLimitHeaders(admission) },
      );
    }
    await next();
    // Read again at the end: a whole answer's tokens are counted by now (a stream's are not yet).
    const headers = rateLimitHeaders(await limiter.state(caller.keyId, limits));
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}

/** The response log of one caller's chat requests, counting each answer's generated tokens against its key. */
export function countingTokens(
  log: CompletionRecorder,
  limiter: RateLimiter,
  caller: Caller,
  roleLimits: RoleLimits,
): CompletionRecorder {
  const limits = limitsOf(caller, roleLimits);
  if (limits.tokensPerMinute === null) return log;
  return {
    record(row) {
      void limiter.addTokens(caller.keyId, limits, row.completionTokens ?? 0).catch(() => {});
      return log.record(row);
    },
  };
}
