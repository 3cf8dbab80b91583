// Every /v1 route × every role, and missing, unknown and revoked keys: each gets the right status.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../../db/apiKeys.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

type Who = "client" | "clinician" | "admin" | "missing" | "unknown" | "revoked";
const everyone: Who[] = ["client", "clinician", "admin", "missing", "unknown", "revoked"];

let gateway: TestGateway;
const keyOf: Partial<Record<Who, string>> = {};
let completionId = "";

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 });
  for (const role of ["client", "clinician", "admin"] as const) {
    keyOf[role] = (await createApiKey(gateway.database.db, { name: role, role })).secret;
  }
  const revoked = await createApiKey(gateway.database.db, { name: "gone", role: "admin" });
  await revokeApiKey(gateway.database.db, revoked.key.id);
  keyOf.revoked = revoked.secret;
  keyOf.unknown = "mg-not-a-key";
  completionId = (
    await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "What is a fever?" }],
      max_tokens: 2,
    })
  ).id;
  await gateway.completionLog.flush();
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
});

const chat = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 1 });
const comment = () => JSON.stringify({ type: "comment", completion_id: completionId, comment: "ok" });
const routes: {
  name: string;
  method: "GET" | "POST";
  path: () => string;
  body?: () => string;
  allowed: Who[];
  ok: number;
}[] = [
  {
    name: "POST /v1/chat/completions",
    method: "POST",
    path: () => "/v1/chat/completions",
    body: () => chat,
    allowed: ["client", "clinician", "admin"],
    ok: 200,
  },
  {
    name: "GET /v1/models",
    method: "GET",
    path: () => "/v1/models",
    allowed: ["client", "clinician", "admin"],
    ok: 200,
  },
  {
    name: "GET /v1/models/{id}",
    method: "GET",
    path: () => "/v1/models/tiny",
    allowed: ["client", "clinician", "admin"],
    ok: 200,
  },
  {
    name: "POST /v1/feedback",
    method: "POST",
    path: () => "/v1/feedback",
    body: comment,
    allowed: ["clinician", "admin"],
    ok: 201,
  },
  {
    name: "GET /v1/feedback",
    method: "GET",
    path: () => `/v1/feedback?completion_id=${completionId}`,
    allowed: ["clinician", "admin"],
    ok: 200,
  },
  {
    name: "GET /v1/chat/completions",
    method: "GET",
    path: () => "/v1/chat/completions?limit=5",
    allowed: ["admin"],
    ok: 200,
  },
  {
    name: "GET /v1/chat/completions/{id}",
    method: "GET",
    path: () => `/v1/chat/completions/${completionId}`,
    allowed: ["admin"],
    ok: 200,
  },
];

describe.each(routes)("$name", (route) => {
  it.each(everyone)("%s", async (who) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (who !== "missing") headers.authorization = `Bearer ${keyOf[who]}`;
    const response = await fetch(`${gateway.url}${route.path()}`, {
      method: route.method,
      headers,
      ...(route.body ? { body: route.body() } : {}),
    });
    const expected = route.allowed.includes(who)
      ? route.ok
      : who === "missing" || who === "unknown" || who === "revoked"
        ? 401
        : 403;
    expect(response.status).toBe(expected);
    if (expected >= 400) {
      const body = (await response.json()) as { error: { type: string } };
      expect(body.error.type).toBe(expected === 401 ? "authentication_error" : "permission_error");
    } else {
      await response.arrayBuffer();
    }
  });
});
