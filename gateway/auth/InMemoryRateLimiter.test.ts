// The in-process limiter over a sliding minute: requests and tokens counted per key, refusals with the wait until a
// request would be admitted, resets to the initial state, and what a key with no limit costs.
import { describe, expect, it } from "vitest";
import { InMemoryRateLimiter } from "./InMemoryRateLimiter.ts";
import type { KeyLimits } from "./RateLimiter.ts";

function limiterAt(start = 1_000_000) {
  const clock = { now: start };
  return { clock, limiter: new InMemoryRateLimiter({ now: () => clock.now }) };
}

const rpm = (requestsPerMinute: number): KeyLimits => ({ requestsPerMinute, tokensPerMinute: null });
const tpm = (tokensPerMinute: number): KeyLimits => ({ requestsPerMinute: null, tokensPerMinute });

describe("InMemoryRateLimiter", () => {
  it("admits N requests in a minute, refuses the next until the oldest leaves the window", async () => {
    const { clock, limiter } = limiterAt();
    const first = await limiter.admit("k", rpm(3));
    expect(first).toMatchObject({ admitted: true, requests: { limit: 3, remaining: 2, resetMs: 60_000 } });
    clock.now += 10_000;
    expect(await limiter.admit("k", rpm(3))).toMatchObject({ admitted: true, requests: { remaining: 1 } });
    clock.now += 10_000;
    expect(await limiter.admit("k", rpm(3))).toMatchObject({
      admitted: true,
      requests: { remaining: 0, resetMs: 60_000 },
    });
    clock.now += 5_000;
    // 25 s after the first request: it leaves the window 35 s from now.
    expect(await limiter.admit("k", rpm(3))).toEqual({
      admitted: false,
      exceeded: "requests",
      retryAfterMs: 35_000,
      requests: { limit: 3, remaining: 0, resetMs: 55_000 },
    });
    clock.now += 34_999;
    expect((await limiter.admit("k", rpm(3))).admitted).toBe(false);
    clock.now += 1;
    expect(await limiter.admit("k", rpm(3))).toMatchObject({ admitted: true, requests: { remaining: 0 } });
  });

  it("does not count refused requests", async () => {
    const { clock, limiter } = limiterAt();
    await limiter.admit("k", rpm(1));
    for (let i = 0; i < 5; i++) expect((await limiter.admit("k", rpm(1))).admitted).toBe(false);
    clock.now += 60_000;
    expect(await limiter.admit("k", rpm(1))).toMatchObject({ admitted: true, requests: { remaining: 0 } });
  });

  it("resets to the initial state a window after the newest request", async () => {
    const { clock, limiter } = limiterAt();
    await limiter.admit("k", rpm(5));
    clock.now += 20_000;
    await limiter.admit("k", rpm(5));
    expect(await limiter.state("k", rpm(5))).toEqual({
      requests: { limit: 5, remaining: 3, resetMs: 60_000 },
    });
    clock.now += 40_000;
    expect(await limiter.state("k", rpm(5))).toEqual({
      requests: { limit: 5, remaining: 4, resetMs: 20_000 },
    });
    clock.now += 20_000;
    expect(await limiter.state("k", rpm(5))).toEqual({ requests: { limit: 5, remaining: 5, resetMs: 0 } });
  });

  it("refuses new requests while the minute's generated tokens are spent, until enough leave the window", async () => {
    const { clock, limiter } = limiterAt();
    expect(await limiter.admit("k", tpm(100))).toMatchObject({
      admitted: true,
      tokens: { limit: 100, remaining: 100, resetMs: 0 },
    });
    await limiter.addTokens("k", tpm(100), 60);
    clock.now += 10_000;
    // Under the budget: a request is admitted even though its answer may go over it.
    expect((await limiter.admit("k", tpm(100))).admitted).toBe(true);
    await limiter.addTokens("k", tpm(100), 70);
    expect(await limiter.state("k", tpm(100))).toEqual({
      tokens: { limit: 100, remaining: 0, resetMs: 60_000 },
    });
    clock.now += 5_000;
    // 130 tokens: the first 60 leave the window 45 s from now, leaving 70, under the limit.
    expect(await limiter.admit("k", tpm(100))).toEqual({
      admitted: false,
      exceeded: "tokens",
      retryAfterMs: 45_000,
      tokens: { limit: 100, remaining: 0, resetMs: 55_000 },
    });
    clock.now += 45_000;
    expect(await limiter.admit("k", tpm(100))).toMatchObject({ admitted: true, tokens: { remaining: 30 } });
  });

  it("waits for the later of the two limits when both are reached", async () => {
    const { clock, limiter } = limiterAt();
    const both: KeyLimits = { requestsPerMinute: 1, tokensPerMinute: 10 };
    await limiter.admit("k", both);
    clock.now += 30_000;
    await limiter.addTokens("k", both, 10);
    expect(await limiter.admit("k", both)).toMatchObject({
      admitted: false,
      exceeded: "requests",
      retryAfterMs: 60_000,
    });
  });

  it("keeps each key's count apart and counts nothing for a limit a key does not have", async () => {
    const { limiter } = limiterAt();
    await limiter.admit("a", rpm(1));
    expect((await limiter.admit("a", rpm(1))).admitted).toBe(false);
    expect((await limiter.admit("b", rpm(1))).admitted).toBe(true);
    const none: KeyLimits = { requestsPerMinute: null, tokensPerMinute: null };
    for (let i = 0; i < 100; i++) expect(await limiter.admit("c", none)).toEqual({ admitted: true });
    await limiter.addTokens("c", none, 1000);
    // A limit set later starts from nothing.
    expect(await limiter.state("c", { requestsPerMinute: 5, tokensPerMinute: 10 })).toEqual({
      requests: { limit: 5, remaining: 5, resetMs: 0 },
      tokens: { limit: 10, remaining: 10, resetMs: 0 },
    });
  });

  it("counts over the window it is given", async () => {
    const clock = { now: 0 };
    const limiter = new InMemoryRateLimiter({ windowMs: 2_000, now: () => clock.now });
    await limiter.admit("k", rpm(1));
    expect(await limiter.admit("k", rpm(1))).toMatchObject({ admitted: false, retryAfterMs: 2_000 });
    clock.now = 2_000;
    expect((await limiter.admit("k", rpm(1))).admitted).toBe(true);
  });
});
