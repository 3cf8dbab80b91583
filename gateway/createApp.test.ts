// The gateway app without a model: probes, routing and error shapes through app.request().
import { describe, expect, it } from "vitest";
import { ApiKeyAuth } from "./ApiKeyAuth.ts";
import { createApp } from "./createApp.ts";
import { ServedModels } from "./ServedModels.ts";

// The key store is injected; ApiKeyAuth itself is real.
const auth = new ApiKeyAuth({
  lookup: async (secret) =>
    secret === "test-key" ? { keyId: "k1", name: "test", role: "client" } : undefined,
});
const recorded: unknown[] = [];
const app = createApp({
  models: new ServedModels(),
  auth,
  completionLog: { record: (row) => recorded.push(row) },
  logReader: { find: async () => undefined, list: async () => ({ rows: [], hasMore: false }) },
  feedbackStore: {
    insert: async () => {
      throw new Error("not used");
    },
    listFor: async () => [],
    promptHashOf: async () => undefined,
    completionIdsReviewedBy: async () => new Set<string>(),
    preferencePairsBy: async () => [],
  },
  bodyLimitBytes: 256,
});
const withKey = { authorization: "Bearer test-key" };
const chat = (body: string) =>
  app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...withKey },
    body,
  });

describe("gateway before a model has loaded", () => {
  it("is alive but not ready", async () => {
    expect((await app.request("/health")).status).toBe(200);
    const ready = await app.request("/ready");
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ error: { type: "service_unavailable", code: "not_ready" } });
  });

  it("answers chat with 503 until the model is loaded", async () => {
    const response = await chat(
      JSON.stringify({ model: "any", messages: [{ role: "user", content: "hi" }] }),
    );
    expect(response.status).toBe(503);
  });

  it("lists no models", async () => {
    expect(await (await app.request("/v1/models", { headers: withKey })).json()).toEqual({
      object: "list",
      data: [],
    });
  });

  it("asks every /v1 route for a key, before reading the body", async () => {
    const response = await app.request("/v1/chat/completions", { method: "POST", body: "x".repeat(1000) });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      error: { type: "authentication_error", code: "invalid_api_key" },
    });
    expect((await app.request("/v1/models", { headers: { authorization: "Bearer wrong" } })).status).toBe(
      401,
    );
  });

  it("maps unknown routes, bad JSON and large bodies to OpenAI-shaped errors with a request id", async () => {
    const unknown = await app.request("/v1/completions-typo", { headers: withKey });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-request-id")).toBeTruthy();
    const bad = await chat("{");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: {
        message: expect.any(String),
        type: "invalid_request_error",
        param: null,
        code: "invalid_json",
      },
    });
    const large = await chat(
      JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(1000) }] }),
    );
    expect(large.status).toBe(413);
    expect(large.headers.get("x-medgate-overhead-ms")).toMatch(/^\d/);
  });

  it("names the offending parameter of a bad request", async () => {
    const response = await chat(JSON.stringify({ model: "m", messages: [{ role: "user", content: 5 }] }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe("messages[0].content");
  });
});
