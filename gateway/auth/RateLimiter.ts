// The per-key limits' accounting interface: requests and generated tokens per minute. The gateway accounts through
// it only, so a store shared by several gateways can replace the in-process one (InMemoryRateLimiter).

/** A key's limits per minute; null for no limit. */
export type KeyLimits = { requestsPerMinute: number | null; tokensPerMinute: number | null };

/** Where a key stands against one limit. */
export type LimitState = {
  limit: number;
  /** What is left of the limit now (requests, or tokens), never below 0. */
  remaining: number;
  /** Milliseconds until the limit is back to its initial state (nothing counted against it). */
  resetMs: number;
};

/** Where a key stands against each of its limits; a limit the key does not have is absent. */
export type RateLimitState = { requests?: LimitState; tokens?: LimitState };

export type Admission =
  | (RateLimitState & { admitted: true })
  | (RateLimitState & {
      admitted: false;
      /** The limit that refused: a full minute of requests, or a spent minute of tokens. */
      exceeded: "requests" | "tokens";
      /** Milliseconds until a request would be admitted. */
      retryAfterMs: number;
    });

export interface RateLimiter {
  /**
   * Admits one request of the key and counts it, or refuses it (counting nothing) while the key's minute of
   * requests is full or its minute of generated tokens is spent.
   */
  admit(keyId: string, limits: KeyLimits): Promise<Admission>;
  /** Counts tokens the key's request generated, once its answer ends (whole, streamed, cancelled or failed). */
  addTokens(keyId: string, limits: KeyLimits, tokens: number): Promise<void>;
  /** Where the key stands now, counting nothing. */
  state(keyId: string, limits: KeyLimits): Promise<RateLimitState>;
}
