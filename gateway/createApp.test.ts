// The gateway app without a model: probes, routing and error shapes through app.request().

import { describe, expect, it } from "vitest";
import type { NewCompletionRow } from "../db/schema.ts";
import { ApiKeyAuth } from "./auth/ApiKeyAuth.ts";
import { createApp } from "./createApp.ts";
import { stubGatewayDeps } from "./stubGatewayDeps.ts";

// The key store is injected; ApiKeyAuth itself is real.
const auth = new ApiKeyAuth({
  lookup: async (secret) =>
    secret === "test-key"
      ? { keyId: "k1", name: "test", role: "client" }
      : secret === "admin-key"
        ? { keyId: "k2", name: "admin", role: "admin" }
        : undefined,
});
const recorded: unknown[] = [];
const deps = stubGatewayDeps({
  auth,
  completionLog: { record: async (row: NewCompletionRow) => void recorded.push(row) },
  bodyLimitBytes: 256,
});
const app = createApp(deps);
const withKey = { authorization: "Bearer test-key" };
const admin = { authorization: "Bearer admin-key" };
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

describe("bad input at the edge", () => {
  it("refuses a JSON body nested past the limit with 400 naming the field, at any depth", async () => {
    for (const depth of [65, 10_000]) {
      const schema = `${'{"type":"object","properties":{"a":'.repeat(depth)}{"type":"string"}${"}}".repeat(depth)}`;
      const response = await chat(
        `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`,
      );
      expect(response.status).toBe(413); // over this app's 256-byte limit
    }
    const deep = createApp({ ...deps, bodyLimitBytes: 4 * 1024 * 1024 });
    const schema = `${'{"type":"array","items":'.repeat(10_000)}{}${"}".repeat(10_000)}`;
    const response = await deep.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...withKey },
      body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { param: "response_format.json_schema.schema", code: "nesting_too_deep" },
    });
  });

  it("answers ids and cursors that cannot be completion ids without asking the database", async () => {
    for (const id of ["%00", "chatcmpl-%00", "chatcmpl-%ff%fe", "x".repeat(300)]) {
      const response = await app.request(`/v1/chat/completions/${id}`, { headers: admin });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: "completion_not_found" } });
    }
    const cursor = await app.request("/v1/chat/completions?after=%00", { headers: admin });
    expect(cursor.status).toBe(400);
    expect(await cursor.json()).toMatchObject({ error: { param: "after" } });
  });

  it("takes page forms as urlencoded only: multipart and other bodies get 415", async () => {
    for (const path of ["/review/login", "/admin/login"]) {
      const form = new FormData();
      form.set("key", "test-key");
      const multipart = await app.request(path, { method: "POST", body: form });
      expect(multipart.status).toBe(415);
      expect(await multipart.json()).toMatchObject({ error: { code: "unsupported_media_type" } });
      const broken = await app.request(path, {
        method: "POST",
        headers: { "content-type": "multipart/form-data" },
        body: "garbage",
      });
      expect(broken.status).toBe(415);
      const urlencoded = await app.request(path, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "key=wrong",
      });
      expect(urlencoded.status).toBe(401);
    }
  });
});

describe("OpenAPI document", () => {
  it("is served at /openapi.json and lists every route of the app with its method", async () => {
    const response = await app.request("/openapi.json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, object> };
    expect(document.openapi).toBe("3.1.0");
    const placeholders = (path: string) => path.replace(/\{[^}]+\}|:[^/]+/gu, "{}");
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${placeholders(path)}`),
    );
    const served = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${placeholders(route.path)}`);
    expect(new Set(documented)).toEqual(new Set(served));
  });
});

describe("methods a documented path does not answer", () => {
  it("are a 405 in OpenAI's shape with Allow, before any key or sign-in check", async () => {
    for (const [method, path, allow] of [
      ["PATCH", "/v1/models", "GET, HEAD"],
      ["DELETE", "/v1/chat/completions", "POST, GET, HEAD"],
      ["PUT", "/v1/chat/completions/chatcmpl-x", "GET, HEAD"],
      ["GET", "/tokenize", "POST"],
      ["GET", "/admin/logout", "POST"],
      ["OPTIONS", "/review", "GET, HEAD"],
    ] as const) {
      const response = await app.request(path, { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get("allow")).toBe(allow);
      expect(await response.json()).toMatchObject({
        error: { type: "invalid_request_error", code: "method_not_allowed", param: null },
      });
    }
  });

  it("leave unknown paths a 404 and HEAD of a GET route answered", async () => {
    expect((await app.request("/v1/nothing-here", { method: "PATCH", headers: withKey })).status).toBe(404);
    expect((await app.request("/health", { method: "HEAD" })).status).toBe(200);
  });
});
