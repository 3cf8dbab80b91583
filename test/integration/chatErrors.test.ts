// Errors of the chat API in OpenAI's shape, with the status, param and code a client can act on, exercised
// with the official `openai` client and raw requests against a listening gateway on the tiny fixture model.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../../db/apiKeys.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const question: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You are a careful medical assistant." },
  { role: "user", content: "What are the symptoms of asthma?" },
];

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 4, contextSize: 512 });
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
});

describe("errors in OpenAI's shape", () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...gateway.authHeaders, ...headers },
      body,
    });
  const expectError = async (response: Response, status: number, param: string | null, code?: string) => {
    expect(response.status).toBe(status);
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(typeof body.error.message).toBe("string");
    expect(body.error.param).toBe(param);
    if (code) expect(body.error.code).toBe(code);
    return body.error;
  };

  it("401 for a missing, unknown or revoked key; the openai client raises AuthenticationError", async () => {
    const missing = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: "{}" });
    expect(missing.status).toBe(401);
    await expectError(await post("{}", { authorization: "Bearer mg-unknown" }), 401, null, "invalid_api_key");
    const { key, secret } = await createApiKey(gateway.database.db, { name: "to revoke", role: "client" });
    const anonymous = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secret, maxRetries: 0 });
    expect((await anonymous.models.list()).data).toHaveLength(1);
    await revokeApiKey(gateway.database.db, key.id);
    // Lookups are cached for up to 5 s: a revoked key stops working within that time.
    await expect
      .poll(
        async () =>
          (await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } }))
            .status,
        {
          timeout: 7_000,
          interval: 500,
        },
      )
      .toBe(401);
    await expect(
      new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "mg-nope", maxRetries: 0 }).models.list(),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("400 for malformed JSON", async () => {
    await expectError(await post("{not json"), 400, null, "invalid_json");
  });

  it("400 with param for bad fields", async () => {
    await expectError(await post(JSON.stringify({ model: "tiny", messages: [] })), 400, "messages");
    await expectError(
      await post(JSON.stringify({ model: "tiny", messages: [{ role: "patient", content: "hi" }] })),
      400,
      "messages[0].role",
    );
    await expectError(
      await post(JSON.stringify({ model: "tiny", messages: question, temperature: 3 })),
      400,
      "temperature",
    );
    await expectError(
      await post(JSON.stringify({ model: "tiny", messages: question, max_tokens: 0 })),
      400,
      "max_tokens",
    );
    // A repeat penalty near 0 divides logits to infinity, and llama.cpp then samples outside the grammar.
    await expectError(
      await post(
        JSON.stringify({
          model: "tiny",
          messages: question,
          repeat_penalty: 1e-200,
          response_format: { type: "json_object" },
        }),
      ),
      400,
      "repeat_penalty",
    );
    await expectError(
      await post(
        JSON.stringify({
          model: "tiny",
          messages: question,
          response_format: {
            type: "json_schema",
            json_schema: { name: "x", schema: { type: "string", pattern: "^a+$" } },
          },
        }),
      ),
      400,
      "response_format.json_schema.schema",
    );
  });

  it("the openai client surfaces a 400 as BadRequestError", async () => {
    await expect(
      gateway.client.chat.completions.create({ model: "tiny", messages: question, top_p: 7 }),
    ).rejects.toMatchObject({ status: 400, param: "top_p" });
  });

  it("404 for an unknown model", async () => {
    await expectError(
      await post(JSON.stringify({ model: "med42-9000", messages: question })),
      404,
      "model",
      "model_not_found",
    );
  });

  it("400 context_length_exceeded for a prompt longer than the context", async () => {
    const long = "asthma ".repeat(2000);
    await expectError(
      await post(JSON.stringify({ model: "tiny", messages: [{ role: "user", content: long }] })),
      400,
      "messages",
      "context_length_exceeded",
    );
    await expectError(
      await post(JSON.stringify({ model: "tiny", messages: question, max_tokens: 100_000 })),
      400,
      "messages",
      "context_length_exceeded",
    );
  });

  it("413 for a body over the limit", async () => {
    const small = await startGateway(
      { modelPath: testModels().ggufPath, parallel: 1, contextSize: 256 },
      { bodyLimitBytes: 1024 },
    );
    try {
      const response = await fetch(`${small.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...small.authHeaders },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x".repeat(4096) }] }),
      });
      await expectError(response, 413, null, "request_too_large");
    } finally {
      await small[Symbol.asyncDispose]();
    }
  });

  it("429 with Retry-After when the queue is full", async () => {
    const busy = await startGateway({
      modelPath: testModels().ggufPath,
      parallel: 1,
      maxQueue: 0,
      contextSize: 512,
    });
    try {
      const controller = new AbortController();
      const first = await busy.client.chat.completions.create(
        { model: "tiny", messages: question, max_tokens: 400, stream: true },
        { signal: controller.signal },
      );
      const iterator = first[Symbol.asyncIterator]();
      await iterator.next();
      const refused = await fetch(`${busy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...busy.authHeaders },
        body: JSON.stringify({ model: "tiny", messages: question, max_tokens: 2 }),
      });
      expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
      await expectError(refused, 429, null, "overloaded");
      controller.abort();
      await iterator.return?.();
    } finally {
      await busy[Symbol.asyncDispose]();
    }
  });
});
