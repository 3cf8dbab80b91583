// Per-key limits and storage policy against a listening gateway, with the official `openai` client: a key over its
// requests per minute gets 429 with Retry-After and the x-ratelimit-* headers, and the client's own retry waits as
// told and then succeeds; a key whose minute of generated tokens is spent (whole or streamed answers) is refused
// until they leave the window; a key set never to store text leaves rows without its conversation. The limiter
// counts over a 5 s window instead of a minute, so that a retry does not wait a minute.
import { eq } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiKeyPolicy, createApiKey } from "../../db/apiKeys.ts";
import { completions } from "../../db/schema.ts";
import { InMemoryRateLimiter } from "../../gateway/auth/InMemoryRateLimiter.ts";
import { testModels } from "../support/fixtures.ts";
import { startTestTelemetry } from "../support/otlpReceiver.ts";
import { parsePrometheusText, sampleSum } from "../support/prometheusText.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const windowMs = 5_000;
let gateway: TestGateway;
let telemetry: AsyncDisposable;

beforeAll(async () => {
  const started = await startTestTelemetry();
  telemetry = started;
  gateway = await startGateway(
    { modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 },
    {
      rateLimiter: new InMemoryRateLimiter({ windowMs }),
      telemetry: { captureMessageContent: false, metricsText: started.telemetry.metricsText },
    },
  );
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  await telemetry?.[Symbol.asyncDispose]();
});

/** How many requests of client keys /metrics says were refused over this limit. */
async function refusedOver(limit: "requests" | "tokens"): Promise<number> {
  const response = await fetch(`${gateway.url}/metrics`, { headers: gateway.authHeaders });
  return sampleSum(parsePrometheusText(await response.text()), "medgate_requests_rate_limited_total", {
    medgate_rate_limit: limit,
    medgate_api_key_role: "client",
  });
}

/** A client key with this policy, and an `openai` client sending it. */
async function clientKey(
  policy: ApiKeyPolicy,
  clientOptions: Partial<ConstructorParameters<typeof OpenAI>[0]> = {},
) {
  const { key, secret } = await createApiKey(gateway.database.db, {
    name: "ward app",
    role: "client",
    ...policy,
  });
  const client = new OpenAI({
    baseURL: `${gateway.url}/v1`,
    apiKey: secret,
    maxRetries: 0,
    timeout: 60_000,
    ...clientOptions,
  });
  return { key, client };
}

const ask = { model: "tiny", messages: [{ role: "user" as const, content: "Name one symptom of asthma." }] };
const whole = { ...ask, max_tokens: 4, temperature: 0 };

function rateLimitHeadersOf(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers].filter(([name]) => name.startsWith("x-ratelimit-")));
}

describe("requests per minute", () => {
  it("answers 429 with Retry-After and OpenAI's headers once a key's minute is full", async () => {
    const { client } = await clientKey({ requestsPerMinute: 2 });
    const refusedBefore = await refusedOver("requests");
    const first = await client.chat.completions.create(whole).withResponse();
    expect(rateLimitHeadersOf(first.response.headers)).toEqual({
      "x-ratelimit-limit-requests": "2",
      "x-ratelimit-remaining-requests": "1",
      "x-ratelimit-reset-requests": expect.stringMatching(/^\d+(\.\d+)?s$|^\d+ms$/u),
    });
    const second = await client.chat.completions.create(whole).withResponse();
    expect(second.response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const refused = await client.chat.completions.create(whole).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const error = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.type).toBe("requests");
    const retryAfter = Number(error.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(windowMs / 1000);
    expect(error.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(error.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect((await refusedOver("requests")) - refusedBefore).toBe(1);
  });

  it("lets the client's built-in retry wait for Retry-After and then succeed", async () => {
    const attempts: { status: number; at: number; retryAfter: string | null }[] = [];
    const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const response = await fetch(input, init);
      attempts.push({
        status: response.status,
        at: performance.now(),
        retryAfter: response.headers.get("retry-after"),
      });
      return response;
    };
    const { client } = await clientKey({ requestsPerMinute: 1 }, { maxRetries: 2, fetch: recordingFetch });
    await client.chat.completions.create(whole);
    const answer = await client.chat.completions.create(whole);
    expect(answer.choices[0]?.message.content).toEqual(expect.any(String));
    expect(attempts.map((attempt) => attempt.status)).toEqual([200, 429, 200]);
    const [, refused, retried] = attempts;
    expect(Number(refused!.retryAfter)).toBeGreaterThanOrEqual(1);
    // The client slept the Retry-After seconds before trying again (its own backoff would start at 0.5 s).
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(Number(refused!.retryAfter) * 1000 - 50);
  });
});

describe("generated tokens per minute", () => {
  it("refuses a key whose minute of tokens a whole answer spent, until they leave the window", async () => {
    const { client } = await clientKey({ tokensPerMinute: 3 });
    const { data, response } = await client.chat.completions.create(whole).withResponse();
    expect(data.usage?.completion_tokens).toBeGreaterThanOrEqual(3);
    // The answer's tokens are counted by the time its headers are written.
    expect(rateLimitHeadersOf(response.headers)).toEqual({
      "x-ratelimit-limit-tokens": "3",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": expect.stringMatching(/^\d+(\.\d+)?s$|^\d+ms$/u),
    });
    const refused = (await client.chat.completions
      .create(whole)
      .catch((error: unknown) => error)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect([refused.type, refused.code]).toEqual(["tokens", "rate_limit_exceeded"]);
    expect(refused.headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    const retryAfter = Number(refused.headers.get("retry-after"));
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    await expect(client.chat.completions.create(whole)).resolves.toMatchObject({ object: "chat.completion" });
  });

  it("counts a streamed answer's tokens once it ends", async () => {
    const { client } = await clientKey({ tokensPerMinute: 2 });
    const stream = await client.chat.completions.create({
      ...whole,
      stream: true,
      stream_options: { include_usage: true },
    });
    let generated = 0;
    for await (const chunk of stream) generated = chunk.usage?.completion_tokens ?? generated;
    expect(generated).toBeGreaterThanOrEqual(2);
    const refused = await client.chat.completions.create(whole).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).type).toBe("tokens");
  });
});

describe("storage policy", () => {
  it("keeps a no-store key's rows without its conversation, as store: false does", async () => {
    const textless = await clientKey({ storeText: false });
    const stored = await clientKey({});
    const hidden = await textless.client.chat.completions.create(whole);
    const kept = await stored.client.chat.completions.create(whole);
    const rowOf = async (id: string) =>
      (await gateway.database.db.select().from(completions).where(eq(completions.id, id)))[0]!;
    const hiddenRow = await rowOf(hidden.id);
    expect(hiddenRow).toMatchObject({
      stored: false,
      messages: null,
      choices: null,
      apiKeyId: textless.key.id,
      status: expect.any(String),
      modelName: "tiny",
    });
    expect(hiddenRow.completionTokens).toBe(hidden.usage?.completion_tokens);
    expect(JSON.stringify(hiddenRow)).not.toContain("asthma");
    const keptRow = await rowOf(kept.id);
    expect(keptRow.stored).toBe(true);
    expect(JSON.stringify(keptRow.messages)).toContain("asthma");
  });
});
