// Per-key limits accounted in this process over a sliding window (a minute): at most N requests, and no new request
// once the generated tokens of the window reach the limit. Several gateways each keep their own count.
import type { Admission, KeyLimits, LimitState, RateLimiter, RateLimitState } from "./RateLimiter.ts";

export type InMemoryRateLimiterOptions = {
  /** The window the limits count over. Default: 60000 ms */
  windowMs?: number;
  now?: () => number;
};

export class InMemoryRateLimiter implements RateLimiter {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { requests: WindowLog; tokens: WindowLog }>();
  #admitsSinceSweep = 0;

  constructor(options: InMemoryRateLimiterOptions = {}) {
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  async admit(keyId: string, limits: KeyLimits): Promise<Admission> {
    const now = this.#now();
    this.#sweepNowAndThen(now);
    const logs = this.#logsOf(keyId, now);
    const { requestsPerMinute: requestLimit, tokensPerMinute: tokenLimit } = limits;
    const requestsWaitMs = requestLimit === null ? 0 : logs.requests.msUntilBelow(requestLimit, now);
    const tokensWaitMs = tokenLimit === null ? 0 : logs.tokens.msUntilBelow(tokenLimit, now);
    if (requestsWaitMs > 0 || tokensWaitMs > 0) {
      return {
        ...this.#stateOf(logs, limits, now),
        admitted: false,
        exceeded: requestsWaitMs > 0 ? "requests" : "tokens",
        retryAfterMs: Math.max(requestsWaitMs, tokensWaitMs),
      };
    }
    if (requestLimit !== null) logs.requests.add(now, 1);
    return { ...this.#stateOf(logs, limits, now), admitted: true };
  }

  async addTokens(keyId: string, limits: KeyLimits, tokens: number): Promise<void> {
    if (limits.tokensPerMinute === null || tokens <= 0) return;
    const now = this.#now();
    this.#logsOf(keyId, now).tokens.add(now, tokens);
  }

  async state(keyId: string, limits: KeyLimits): Promise<RateLimitState> {
    const now = this.#now();
    return this.#stateOf(this.#logsOf(keyId, now), limits, now);
  }

  #logsOf(keyId: string, now: number): { requests: WindowLog; tokens: WindowLog } {
    let logs = this.#keys.get(keyId);
    if (!logs) {
      logs = { requests: new WindowLog(this.#windowMs), tokens: new WindowLog(this.#windowMs) };
      this.#keys.set(keyId, logs);
    }
    logs.requests.expire(now);
    logs.tokens.expire(now);
    return logs;
  }

  #stateOf(logs: { requests: WindowLog; tokens: WindowLog }, limits: KeyLimits, now: number): RateLimitState {
    const stateOf = (log: WindowLog, limit: number): LimitState => ({
      limit,
      remaining: Math.max(0, limit - log.total),
      resetMs: log.msUntilEmpty(now),
    });
    return {
      ...(limits.requestsPerMinute === null
        ? {}
        : { requests: stateOf(logs.requests, limits.requestsPerMinute) }),
      ...(limits.tokensPerMinute === null ? {} : { tokens: stateOf(logs.tokens, limits.tokensPerMinute) }),
    };
  }

  /** Forgets keys with nothing in their window, every thousand admissions, so idle keys hold no memory. */
  #sweepNowAndThen(now: number): void {
    if (++this.#admitsSinceSweep < 1000) return;
    this.#admitsSinceSweep = 0;
    for (const [keyId, logs] of this.#keys) {
      logs.requests.expire(now);
      logs.tokens.expire(now);
      if (logs.requests.total === 0 && logs.tokens.total === 0) this.#keys.delete(keyId);
    }
  }
}

/** Amounts counted at times, of which those in the last window count (a queue, oldest first). */
class WindowLog {
  #times: number[] = [];
  #amounts: number[] = [];
  #head = 0;
  total = 0;

  constructor(readonly windowMs: number) {}

  add(time: number, amount: number): void {
    this.#times.push(time);
    this.#amounts.push(amount);
    this.total += amount;
  }

  /** Drops what left the window ending at `now`. */
  expire(now: number): void {
    while (this.#head < this.#times.length && this.#times[this.#head]! + this.windowMs <= now) {
      this.total -= this.#amounts[this.#head]!;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#amounts = this.#amounts.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head === this.#times.length) this.total = 0;
  }

  /** Milliseconds until the total in the window is below `limit` (0 when it already is). */
  msUntilBelow(limit: number, now: number): number {
    let total = this.total;
    for (let index = this.#head; total >= limit && index < this.#times.length; index++) {
      total -= this.#amounts[index]!;
      if (total < limit) return this.#times[index]! + this.windowMs - now;
    }
    return 0;
  }

  /** Milliseconds until everything in the window has left it. */
  msUntilEmpty(now: number): number {
    const newest = this.#times.at(-1);
    return newest === undefined || this.#head === this.#times.length ? 0 : newest + this.windowMs - now;
  }
}
