// Per-key limits through the app: OpenAI's x-ratelimit-* headers on admitted responses, 429 `rate_limit_exceeded`
// with Retry-After over a limit (distinct from the queue's `overloaded`), keys' own limits over their role's, and
// generated tokens counted from the log rows of answers.
import { describe, expect, it } from "vitest";
import { createApp } from "../createApp.ts";
import { OverloadedApiError } from "../errors.ts";
import { stubGatewayDeps } from "../stubGatewayDeps.ts";
import { ApiKeyAuth, type Caller } from "./ApiKeyAuth.ts";
import { InMemoryRateLimiter } from "./InMemoryRateLimiter.ts";
import { countingTokens, noRoleLimits, type RoleLimits, resetDuration } from "./keyRateLimit.ts";

const callers: Record<string, Caller> = {
  client: { keyId: "c1", name: "ward app", role: "client" },
  unlimitedClient: { keyId: "c2", name: "batch", role: "client", limits: { requestsPerMinute: null } },
  ownLimit: { keyId: "c3", name: "pilot", role: "client", limits: { requestsPerMinute: 1 } },
  admin: { keyId: "a1", name: "ops", role: "admin" },
};

function appWith(roleLimits: RoleLimits) {
  const clock = { now: 5_000_000 };
  const rateLimiter = new InMemoryRateLimiter({ now: () => clock.now });
  const deps = stubGatewayDeps({
    auth: new ApiKeyAuth({ lookup: async (secret) => callers[secret] }),
    rateLimiter,
    roleLimits,
  });
  const app = createApp(deps);
  const get = (key: string, path = "/v1/models") =>
    app.request(path, { headers: { authorization: `Bearer ${key}` } });
  return { app, clock, rateLimiter, get };
}

const clientLimits: RoleLimits = {
  ...noRoleLimits,
  client: { requestsPerMinute: 2, tokensPerMinute: 1000 },
};

describe("per-key limits", () => {
  it("sends OpenAI's x-ratelimit-* headers on admitted /v1 responses", async () => {
    const { get, clock } = appWith(clientLimits);
    const first = await get("client");
    expect(first.status).toBe(200);
    expect(Object.fromEntries([...first.headers].filter(([name]) => name.startsWith("x-ratelimit")))).toEqual(
      {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-tokens": "0s",
      },
    );
    clock.now += 12_340;
    const second = await get("client");
    expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(second.headers.get("x-ratelimit-reset-requests")).toBe("1m0s");
    clock.now += 30_000;
    // Errors after admission (here an unknown model) carry them too.
    const unknown = await get("unlimitedClient", "/v1/models/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    expect(unknown.headers.get("x-ratelimit-limit-requests")).toBeNull();
  });

  it("refuses a key over its requests per minute with 429, Retry-After and the headers, in OpenAI's shape", async () => {
    const { get, clock } = appWith(clientLimits);
    await get("client");
    clock.now += 15_500;
    await get("client");
    clock.now += 2_000;
    const refused = await get("client");
    expect(refused.status).toBe(429);
    // The first request leaves the window in 42.5 s.
    expect(refused.headers.get("retry-after")).toBe("43");
    expect(refused.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(refused.headers.get("x-ratelimit-reset-requests")).toBe("58s");
    expect(refused.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    const body = (await refused.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded", param: null });
    expect(body.error.message).toContain("requests per minute (RPM): limit 2");
    expect(body.error.message).toContain("42.5s");
    // The shared queue's 429 stays distinct.
    const queue = new OverloadedApiError("queue full", 1);
    expect([queue.type, queue.code]).toEqual(["server_overloaded", "overloaded"]);
    clock.now += 42_500;
    expect((await get("client")).status).toBe(200);
  });

  it("takes a key's own limits over its role's, and leaves keys without limits alone", async () => {
    const { get } = appWith(clientLimits);
    for (let i = 0; i < 5; i++) {
      const response = await get("unlimitedClient");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBeNull();
      expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    }
    expect((await get("ownLimit")).status).toBe(200);
    expect((await get("ownLimit")).status).toBe(429);
    for (let i = 0; i < 5; i++) {
      const response = await get("admin");
      expect(response.status).toBe(200);
      expect([...response.headers.keys()].some((name) => name.startsWith("x-ratelimit"))).toBe(false);
    }
  });

  it("counts an answer's generated tokens from its log row and refuses while the minute's tokens are spent", async () => {
    const { get, clock, rateLimiter } = appWith(clientLimits);
    const recorded: unknown[] = [];
    const log = countingTokens(
      { record: async (row) => void recorded.push(row) },
      rateLimiter,
      callers.client!,
      clientLimits,
    );
    await log.record({ completionTokens: 1200 } as Parameters<typeof log.record>[0]);
    expect(recorded).toHaveLength(1);
    clock.now += 1_000;
    const refused = await get("client");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("59");
    expect(refused.headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    expect(refused.headers.get("x-ratelimit-reset-tokens")).toBe("59s");
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe("tokens");
    // The refused request was not counted.
    clock.now += 59_000;
    expect((await get("client")).headers.get("x-ratelimit-remaining-requests")).toBe("1");
  });

  it("writes reset durations as OpenAI does", () => {
    expect([0, 0.4, 12, 999, 1000, 7660, 59_560, 60_000, 360_000, 61_001].map(resetDuration)).toEqual([
      "0s",
      "1ms",
      "12ms",
      "999ms",
      "1s",
      "7.66s",
      "59.56s",
      "1m0s",
      "6m0s",
      "1m1.001s",
    ]);
  });
});
