// Property-based fuzzing of every route the gateway's OpenAPI document lists, against a listening gateway on
// the tiny model: valid-shaped and malformed bodies, headers, cookies, query strings and paths. Properties: no
// 5xx, every error in OpenAI's shape, every success in its documented shape, every answer the client got an
// id for is in the response log afterwards, no sequence left held, and the server still answering.
// MEDGATE_FUZZ_REQUESTS (default 3000) and MEDGATE_FUZZ_SEED (default fixed; "random" for a new one) tune it.
import { connect } from "node:net";
import { Ajv2020 } from "ajv/dist/2020.js";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { pageCookies } from "../../gateway/openapi.ts";
import { testModels } from "../support/fixtures.ts";
import {
  type Document,
  type FuzzRequest,
  formBody,
  known,
  type Operation,
  pathSegment,
  requestArbitrary,
} from "../support/fuzzRequests.ts";
import type { JsonSchema } from "../support/openApiArbitraries.ts";
import { readSse, startGateway, type TestGateway } from "../support/startGateway.ts";

const requestCount = Number(process.env.MEDGATE_FUZZ_REQUESTS ?? 3000);
const seed =
  process.env.MEDGATE_FUZZ_SEED === "random"
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.MEDGATE_FUZZ_SEED ?? 20261203);
const concurrency = 4;

describe("fuzzing every route of the OpenAPI document", () => {
  let gateway: TestGateway;
  const secrets: Record<"admin" | "clinician" | "client", string> = { admin: "", clinician: "", client: "" };
  beforeAll(async () => {
    gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 4, contextSize: 512 });
    secrets.admin = gateway.apiKey;
    for (const role of ["clinician", "client"] as const) {
      secrets[role] = (await createApiKey(gateway.database.db, { name: `fuzz ${role}`, role })).secret;
    }
  });
  afterAll(async () => {
    await gateway?.[Symbol.asyncDispose]();
  });

  it(`answers ${requestCount} generated requests without a 5xx and logs every answer it gave`, async () => {
    const document = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as Document;
    const operations: Operation[] = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        ...operation,
        path,
        method: method.toUpperCase(),
      })),
    );
    const cookieNames = Object.values(document.components.securitySchemes)
      .filter((scheme) => scheme.in === "cookie")
      .map((scheme) => scheme.name!);
    expect(cookieNames.sort()).toEqual(Object.values(pageCookies).sort());

    const ajv = new Ajv2020({ strict: false, allErrors: false });
    const validators = new Map<JsonSchema, ReturnType<typeof ajv.compile>>();
    const validate = (schema: JsonSchema, value: unknown) => {
      const check = validators.get(schema) ?? ajv.compile(schema);
      validators.set(schema, check);
      return check(value) ? null : ajv.errorsText(check.errors);
    };
    const errorShape =
      document.paths["/v1/models/{model}"]!.get!.responses["404"]!.content!["application/json"]!.schema;

    console.log(`fuzz: seed ${seed} (MEDGATE_FUZZ_SEED=${seed} repeats this run)`);
    const requests = fc.sample(requestArbitrary(operations), { numRuns: requestCount, seed });
    const seenIds = new Set<string>();
    const statuses = new Map<string, number>();
    const violations: string[] = [];
    let chatAnswers = 0;

    const send = async (request: FuzzRequest, index: number) => {
      try {
        await exchange(request, index);
      } catch (error) {
        violations.push(
          `#${index} ${request.method} ${request.path}: ${String(error)} (${JSON.stringify(request.body).slice(0, 2000)})`,
        );
      }
    };
    const exchange = async (request: FuzzRequest, index: number) => {
      const ids = [...seenIds];
      const resolve = (value: unknown): unknown =>
        value === known
          ? (ids[index % Math.max(1, ids.length)] ?? "chatcmpl-none")
          : Array.isArray(value)
            ? value.map(resolve)
            : typeof value === "object" && value !== null
              ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolve(item)]))
              : value;
      const path = request.path.replaceAll(pathSegment(known), pathSegment(String(resolve(known))));
      const query = new URLSearchParams(
        request.query.map(([key, value]): [string, string] => [key, String(resolve(value))]),
      );
      const headers: Record<string, string> = {};
      if (request.auth === "garbage") headers.authorization = "Bearer mg-not-a-key";
      else if (request.auth !== "none") headers.authorization = `Bearer ${secrets[request.auth]}`;
      if (request.cookie !== "none") {
        const value = request.cookie === "garbage" ? "mg-not-a-key" : secrets[request.cookie];
        headers.cookie = cookieNames.map((name) => `${name}=${value}`).join("; ");
      }
      if (request.contentType) headers["content-type"] = request.contentType;
      let body: string | FormData | undefined;
      if (request.body.kind === "json")
        body = request.body.text ?? JSON.stringify(resolve(request.body.value));
      if (request.body.kind === "form") body = formBody(resolve(request.body.value));
      if (request.method === "GET" || request.method === "HEAD") body = undefined;
      const abort = new AbortController();
      const url = `${gateway.url}${path}${query.size > 0 ? `?${query}` : ""}`;
      const label = `#${index} ${request.method} ${url.slice(gateway.url.length, gateway.url.length + 120)}`;
      let response: Response;
      try {
        response = await fetch(url, {
          method: request.method,
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]),
        });
      } catch (error) {
        violations.push(`${label}: no response (${String(error)}) to ${String(body).slice(0, 2000)}`);
        return;
      }
      const statusClass = `${String(response.status)[0]}xx`;
      statuses.set(statusClass, (statuses.get(statusClass) ?? 0) + 1);
      const type = (response.headers.get("content-type") ?? "").split(";")[0]!;
      const documented = request.operation?.responses[String(response.status)];
      if (response.status >= 500) {
        violations.push(`${label}: ${response.status} ${await response.text()}`);
        return;
      }
      if (!response.headers.get("x-request-id")) violations.push(`${label}: no x-request-id`);
      if (request.method === "HEAD") return;

      if (type === "text/event-stream") {
        const isChat = request.operation?.path === "/v1/chat/completions";
        const streams = isChat || request.operation?.path === "/v1/completions";
        if (!streams || response.status !== 200) violations.push(`${label}: unexpected event stream`);
        let events: string[];
        if (request.abortStream) {
          const reader = response.body!.getReader();
          const first = await reader.read();
          events = [
            new TextDecoder()
              .decode(first.value)
              .split("\n\n")[0]!
              .replace(/^data: /u, ""),
          ];
          abort.abort();
        } else {
          events = await readSse(response);
          if (events.at(-1) !== "[DONE]") violations.push(`${label}: stream did not end with [DONE]`);
        }
        // The document describes one event: its `data` is `[DONE]`, else JSON of the chunk (or error) schema.
        const eventSchema = documented?.content?.["text/event-stream"]?.schema as
          | { properties: { data: { else: { contentSchema: JsonSchema } } } }
          | undefined;
        const chunkSchema = eventSchema?.properties.data.else.contentSchema;
        for (const event of events.filter((data) => data !== "[DONE]")) {
          const data = JSON.parse(event) as { id?: string };
          if (data.id && isChat) seenIds.add(data.id);
          const problem = chunkSchema ? validate(chunkSchema, data) : "no chunk schema documented";
          if (problem) violations.push(`${label}: stream event ${event.slice(0, 200)}: ${problem}`);
        }
        chatAnswers++;
        return;
      }
      const text = await response.text();
      // A page area sends anyone not signed in to its sign-in form, whatever the path under it.
      if (!documented && response.status >= 300 && response.status < 400) {
        if (!response.headers.get("location"))
          violations.push(`${label}: ${response.status} without location`);
        return;
      }
      if (response.status >= 400 || !documented) {
        const htmlAllowed = type === "text/html" && documented?.content?.["text/html"];
        if (htmlAllowed) return;
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          violations.push(`${label}: ${response.status} error that is not JSON: ${text.slice(0, 200)}`);
          return;
        }
        const problem = validate(errorShape, parsed);
        if (problem) violations.push(`${label}: ${response.status} error not in OpenAI's shape: ${problem}`);
        if (request.operation && response.status >= 400 && !documented)
          violations.push(`${label}: status ${response.status} is not documented`);
        return;
      }
      const schema = documented.content?.[type]?.schema;
      if (documented.content && !schema)
        violations.push(`${label}: ${response.status} as ${type}, not documented`);
      if (schema && type === "application/json") {
        const value = JSON.parse(text) as { id?: string; object?: string };
        const problem = validate(schema, value);
        if (problem) violations.push(`${label}: body not as documented: ${problem}: ${text.slice(0, 300)}`);
        if (request.operation?.path === "/v1/chat/completions" && request.method === "POST" && value.id) {
          seenIds.add(value.id);
          chatAnswers++;
        }
      }
    };

    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests.length) {
          const index = next++;
          await send(requests[index]!, index);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    // Every id a client saw is one row, and nothing else was logged (cancelled streams settle a moment later).
    let storedIds = new Set<string>();
    for (let attempt = 0; attempt < 100; attempt++) {
      await gateway.completionLog.flush();
      const { rows } = (await gateway.database.db.execute(sql`select id from completions`)) as unknown as {
        rows: { id: string }[];
      };
      storedIds = new Set(rows.map((row) => row.id));
      if ([...seenIds].every((id) => storedIds.has(id))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const missing = [...seenIds].filter((id) => !storedIds.has(id));
    const ready = await waitForIdlePool(gateway.url);
    const summary = {
      seed,
      requests: requests.length,
      seconds: Number(seconds.toFixed(1)),
      statusClasses: Object.fromEntries([...statuses].sort()),
      chatAnswers,
      idsSeen: seenIds.size,
      rowsStored: storedIds.size,
      log: gateway.completionLog.stats,
    };
    console.log(`fuzz: ${JSON.stringify(summary)}`);
    expect(violations.slice(0, 20), `seed ${seed}: ${violations.length} violation(s)`).toEqual([]);
    expect(missing, "answered completions missing from the log").toEqual([]);
    expect(storedIds.size).toBe(seenIds.size);
    expect(gateway.completionLog.stats).toMatchObject({ rejected: 0, spooled: 0, queued: 0 });
    expect(ready).toMatchObject({ inUse: 0, queued: 0 });
    const after = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "Still there?" }],
      max_tokens: 4,
    });
    expect(after.choices[0]!.message.content).toEqual(expect.any(String));
  }, 600_000);

  it("answers requests Node's HTTP parser refuses with OpenAI's error shape, and keeps serving", async () => {
    const { port } = new URL(gateway.url);
    const auth = `Authorization: Bearer ${secrets.admin}\r\n`;
    const raw: [string, Buffer][] = [
      ["bad request line", Buffer.from("GARBAGE\r\n\r\n")],
      [
        "control character in a header",
        Buffer.from(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n`),
      ],
      [
        "header too large",
        Buffer.from(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(70_000)}\r\n\r\n`),
      ],
      [
        "bad content-length",
        Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: abc\r\n\r\n`),
      ],
      [
        "both content-length and chunked",
        Buffer.from(
          `POST /v1/feedback HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        ),
      ],
      [
        "bad chunk size",
        Buffer.from(
          `POST /v1/feedback HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
      ],
      ["NUL in the path", Buffer.from("GET /v1/models/a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n")],
      [
        "latin-1 byte in the authorization",
        Buffer.concat([
          Buffer.from("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u00ff"),
          Buffer.from([0xff]),
          Buffer.from("\r\n\r\n"),
        ]),
      ],
    ];
    for (const [what, bytes] of raw) {
      const answer = await rawExchange(Number(port), bytes);
      const [head, body] = answer.split("\r\n\r\n", 2) as [string, string];
      const status = Number(head.split(" ")[1]);
      expect(status, `${what}: ${head}`).toBeGreaterThanOrEqual(400);
      expect(status, what).toBeLessThan(500);
      expect(JSON.parse(body), what).toMatchObject({
        error: { message: expect.any(String), type: expect.any(String) },
      });
    }
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });
});

/** Sends raw bytes and reads the whole answer until the server closes (or 5 s pass). */
function rawExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.end());
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      // A keep-alive answer with a complete JSON body is enough.
      const text = Buffer.concat(chunks).toString("latin1");
      const [head, body] = text.split("\r\n\r\n", 2);
      const length = /content-length: (\d+)/iu.exec(head ?? "")?.[1];
      if (length && body !== undefined && Buffer.byteLength(body, "latin1") >= Number(length)) socket.end();
    });
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

/** The pool of the served model once every sequence is back (a cancelled stream frees its sequence async). */
async function waitForIdlePool(url: string) {
  let pool: { inUse: number; queued: number } | undefined;
  for (let attempt = 0; attempt < 100; attempt++) {
    const ready = (await (await fetch(`${url}/ready`)).json()) as { models: { pool: typeof pool }[] };
    pool = ready.models[0]!.pool;
    if (pool!.inUse === 0 && pool!.queued === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return pool;
}
