// Bearer authentication: 401 for missing, malformed, unknown or revoked keys; 403 for a role too low;
// the lookup cache bounds how long a revoked key keeps working.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { errorBody, toApiError } from "../errors.ts";
import { ApiKeyAuth, type Caller } from "./ApiKeyAuth.ts";

const keys = new Map<string, Caller>([
  ["client-secret", { keyId: "1", name: "app", role: "client" }],
  ["clinician-secret", { keyId: "2", name: "Dr. Rivera", role: "clinician" }],
  ["admin-secret", { keyId: "3", name: "ops", role: "admin" }],
]);

function appWith(auth: ApiKeyAuth) {
  const app = new Hono<{ Variables: { caller: Caller } }>();
  app.get("/chat", auth.require("client", "clinician", "admin"), (c) => c.json(c.get("caller")));
  app.get("/feedback", auth.require("clinician", "admin"), (c) => c.json(c.get("caller")));
  app.get("/logs", auth.require("admin"), (c) => c.json(c.get("caller")));
  app.onError((error, c) => {
    const apiError = toApiError(error);
    return c.json(errorBody(apiError), apiError.status);
  });
  return app;
}

const call = (app: Hono<{ Variables: { caller: Caller } }>, path: string, key?: string) =>
  app.request(path, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } });

describe("ApiKeyAuth", () => {
  const app = appWith(new ApiKeyAuth({ lookup: async (secret) => keys.get(secret) }));

  it.each([
    ["/chat", "client-secret", 200],
    ["/chat", "clinician-secret", 200],
    ["/chat", "admin-secret", 200],
    ["/feedback", "client-secret", 403],
    ["/feedback", "clinician-secret", 200],
    ["/feedback", "admin-secret", 200],
    ["/logs", "client-secret", 403],
    ["/logs", "clinician-secret", 403],
    ["/logs", "admin-secret", 200],
    ["/chat", undefined, 401],
    ["/chat", "nope", 401],
  ])("%s with %s → %i", async (path, key, status) => {
    const response = await call(app, path, key);
    expect(response.status).toBe(status);
    if (status !== 200) {
      const body = (await response.json()) as { error: { type: string } };
      expect(body.error.type).toBe(status === 401 ? "authentication_error" : "permission_error");
    }
  });

  it("refuses a malformed authorization header", async () => {
    const response = await app.request("/chat", { headers: { authorization: "Basic abc" } });
    expect(response.status).toBe(401);
  });

  it("stops accepting a revoked key once its cached lookup expires", async () => {
    let now = 0;
    const live = new Map(keys);
    const auth = new ApiKeyAuth({
      lookup: async (secret) => live.get(secret),
      cacheTtlMs: 1000,
      now: () => now,
    });
    const cached = appWith(auth);
    expect((await call(cached, "/chat", "client-secret")).status).toBe(200);
    live.delete("client-secret");
    now = 999;
    expect((await call(cached, "/chat", "client-secret")).status).toBe(200);
    now = 1000;
    expect((await call(cached, "/chat", "client-secret")).status).toBe(401);
  });

  it("keeps admitting a recently seen key while the key store is down, and answers 503 for unseen keys", async () => {
    let now = 0;
    let down = false;
    const auth = new ApiKeyAuth({
      lookup: async (secret) => {
        if (down) throw new Error("connection refused");
        return keys.get(secret);
      },
      cacheTtlMs: 1000,
      now: () => now,
    });
    const app = appWith(auth);
    expect((await call(app, "/chat", "client-secret")).status).toBe(200);
    down = true;
    now = 5000;
    expect((await call(app, "/chat", "client-secret")).status).toBe(200);
    expect((await call(app, "/chat", "admin-secret")).status).toBe(503);
  });
});
