// The response log through the real gateway: every answer (whole, streamed, n>1, store:false, cancelled)
// is a row with the id the client received; and nothing is lost or duplicated when PostgreSQL becomes
// unreachable in the middle of 200 concurrent requests.
import { eq, inArray, sql } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { completions } from "../../db/schema.ts";
import { testModels } from "../support/fixtures.ts";
import { readSse, startGateway, type TestGateway } from "../support/startGateway.ts";
import { startTcpProxy } from "../support/tcpProxy.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const question: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is a fever?" }];

describe("response log", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 4, contextSize: 512 });
  });
  afterAll(async () => {
    await gateway?.[Symbol.asyncDispose]();
  });

  const rowOf = async (id: string) => {
    await gateway.completionLog.flush();
    const [row] = await gateway.database.db.select().from(completions).where(eq(completions.id, id));
    return row;
  };

  it("records a whole answer with the id, text, usage, key and trace id the client saw", async () => {
    const { data, response } = await gateway.client.chat.completions
      .create({
        model: "tiny",
        messages: question,
        max_tokens: 8,
        temperature: 0,
        user: "u-7",
        metadata: { ward: "3B" },
      })
      .withResponse();
    const row = await rowOf(data.id);
    expect(row).toMatchObject({
      id: data.id,
      stored: true,
      status: data.choices[0]!.finish_reason,
      messages: [{ role: "user", content: "What is a fever?" }],
      choices: [
        { index: 0, text: data.choices[0]!.message.content, finishReason: data.choices[0]!.finish_reason },
      ],
      promptTokens: data.usage!.prompt_tokens,
      completionTokens: data.usage!.completion_tokens,
      modelName: "tiny",
      traceId: response.headers.get("x-request-id"),
      user: "u-7",
      metadata: { ward: "3B" },
    });
    expect(row!.apiKeyId).toMatch(/^[0-9a-f-]{36}$/u);
    expect(row!.latencyMs).toBeGreaterThan(0);
    expect(row!.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(row!.request).toMatchObject({ max_tokens: 8, temperature: 0 });
  });

  it("records streamed answers, n choices, and keeps no text with store: false", async () => {
    const stream = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: question,
      max_tokens: 6,
      n: 2,
      stream: true,
    });
    let id = "";
    for await (const chunk of stream) id = chunk.id;
    const streamed = await rowOf(id);
    expect(streamed!.choices).toHaveLength(2);
    const privateAnswer = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: question,
      max_tokens: 4,
      store: false,
    });
    const row = await rowOf(privateAnswer.id);
    expect(row).toMatchObject({ stored: false, messages: null, choices: null, completionTokens: 4 });
  });

  it("records a stream the client abandons as cancelled", async () => {
    const controller = new AbortController();
    const stream = await gateway.client.chat.completions.create(
      { model: "tiny", messages: question, max_tokens: 400, stream: true },
      { signal: controller.signal },
    );
    let id = "";
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        id = chunk.id;
        if (++chunks === 2) controller.abort();
      }
    } catch {
      // the client's own abort
    }
    await expect.poll(async () => (await rowOf(id))?.status, { timeout: 5_000 }).toBe("cancelled");
  });
});

describe("reading the log (admin keys only)", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 });
  });
  afterAll(async () => {
    await gateway?.[Symbol.asyncDispose]();
  });

  it("returns one stored completion by id, and refuses non-admin keys", async () => {
    const answer = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: question,
      max_tokens: 3,
    });
    await gateway.completionLog.flush();
    const response = await fetch(`${gateway.url}/v1/chat/completions/${answer.id}`, {
      headers: gateway.authHeaders,
    });
    expect(response.status).toBe(200);
    const stored = (await response.json()) as {
      id: string;
      choices: { message: { content: string } }[];
      medgate: { status: string };
    };
    expect(stored.id).toBe(answer.id);
    expect(stored.choices[0]!.message.content).toBe(answer.choices[0]!.message.content);
    expect(stored.medgate.status).toBe("length");
    const missing = await fetch(`${gateway.url}/v1/chat/completions/chatcmpl-nope`, {
      headers: gateway.authHeaders,
    });
    expect(missing.status).toBe(404);
    for (const role of ["client", "clinician"] as const) {
      const { secret } = await createApiKey(gateway.database.db, { name: role, role });
      const refused = await fetch(`${gateway.url}/v1/chat/completions/${answer.id}`, {
        headers: { authorization: `Bearer ${secret}` },
      });
      expect(refused.status).toBe(403);
    }
  });

  it("finds an answer the moment its client has it, and takes feedback on it", async () => {
    for (let index = 0; index < 20; index++) {
      const body = { model: "tiny", messages: question, max_tokens: 4 };
      let id: string;
      if (index % 2 === 0) {
        id = (await gateway.client.chat.completions.create(body)).id;
      } else {
        const stream = await gateway.client.chat.completions.create({ ...body, stream: true });
        let last = "";
        for await (const chunk of stream) last = chunk.id;
        id = last;
      }
      // No flush: the end of the answer came only after its row was durable.
      const found = await fetch(`${gateway.url}/v1/chat/completions/${id}`, { headers: gateway.authHeaders });
      expect(found.status, `answer ${index}`).toBe(200);
      const feedback = await fetch(`${gateway.url}/v1/feedback`, {
        method: "POST",
        headers: { ...gateway.authHeaders, "content-type": "application/json" },
        body: JSON.stringify({ completion_id: id, type: "rating", rating: "up" }),
      });
      expect(feedback.status, `feedback on answer ${index}`).toBe(201);
    }
  });

  it("pages through the log without gaps or overlaps", async () => {
    for (let index = 0; index < 5; index++) {
      await gateway.client.chat.completions.create({ model: "tiny", messages: question, max_tokens: 2 });
    }
    await gateway.completionLog.flush();
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const query: string = `limit=2${after ? `&after=${after}` : ""}`;
      const page = (await (
        await fetch(`${gateway.url}/v1/chat/completions?${query}`, { headers: gateway.authHeaders })
      ).json()) as { data: { id: string }[]; has_more: boolean; last_id: string | null };
      ids.push(...page.data.map((row) => row.id));
      if (!page.has_more) break;
      after = page.last_id;
    }
    expect(ids.length).toBeGreaterThanOrEqual(6);
    expect(new Set(ids).size).toBe(ids.length);
    const bad = await fetch(`${gateway.url}/v1/chat/completions?limit=1000`, {
      headers: gateway.authHeaders,
    });
    expect(bad.status).toBe(400);
  });
});

describe("lossless response log", () => {
  it("stores exactly the answered requests when PostgreSQL is unreachable mid-run", async () => {
    const database = await createTestDatabase("postgres");
    const proxy = await startTcpProxy(database.url!);
    const gateway = await startGateway(
      { modelPath: testModels().ggufPath, parallel: 8, contextSize: 512 },
      { databaseUrl: proxy.url },
    );
    try {
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: gateway.apiKey, maxRetries: 0 });
      const received: string[] = [];
      const failed: string[] = [];
      const outage = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        proxy.cut();
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        proxy.restore();
      })();
      await Promise.all(
        Array.from({ length: 200 }, async (_, index) => {
          // Spread the arrivals over the outage.
          await new Promise((resolve) => setTimeout(resolve, index * 20));
          try {
            const answer = await client.chat.completions.create({
              model: "tiny",
              messages: [{ role: "user", content: `Question ${index}: what is a fever?` }],
              max_tokens: 8,
              stream: index % 2 === 0,
            });
            if ("id" in answer) received.push(answer.id);
            else
              for await (const chunk of answer) if (chunk.choices[0]?.finish_reason) received.push(chunk.id);
          } catch (error) {
            failed.push(`${index}: ${error}`);
          }
        }),
      );
      await outage;
      expect(failed).toEqual([]);
      expect(received).toHaveLength(200);
      await gateway.completionLog.flush();
      await expect.poll(() => gateway.completionLog.stats.spooled, { timeout: 15_000 }).toBe(0);
      expect(gateway.completionLog.stats.spooledTotal).toBeGreaterThan(0);
      const counts = await database.db
        .select({
          rows: sql<number>`count(*)::int`,
          ids: sql<number>`count(distinct ${completions.id})::int`,
        })
        .from(completions);
      expect(counts[0]).toEqual({ rows: 200, ids: 200 });
      const stored = await database.db
        .select({ id: completions.id })
        .from(completions)
        .where(inArray(completions.id, received));
      expect(stored).toHaveLength(200);
    } finally {
      await gateway[Symbol.asyncDispose]();
      await proxy.close();
      await database[Symbol.asyncDispose]();
    }
  });
});

describe("reading the log while the database is away", () => {
  it("refuses to show an answer while its read cannot be audited, and shows it once the spool is replayed", async () => {
    const database = await createTestDatabase("postgres");
    const proxy = await startTcpProxy(database.url!);
    const gateway = await startGateway(
      { modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 },
      { databaseUrl: proxy.url },
    );
    try {
      const read = async (id: string) => {
        const response = await fetch(`${gateway.url}/v1/chat/completions/${id}`, {
          headers: gateway.authHeaders,
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      await gateway.client.chat.completions.create({ model: "tiny", messages: question, max_tokens: 2 });
      proxy.cut();
      const answer = await gateway.client.chat.completions.create({
        model: "tiny",
        messages: question,
        max_tokens: 4,
      });
      expect(gateway.completionLog.stats.spooled).toBeGreaterThan(0);
      // The answer is in the spool, but its read cannot be recorded in the audit trail: refused, text unsent.
      const fromSpool = await read(answer.id);
      expect(fromSpool.status).toBe(503);
      expect(fromSpool.body).toMatchObject({ error: { type: "service_unavailable" } });
      expect(fromSpool.body).not.toHaveProperty("choices");
      expect((await read("chatcmpl-nowhere")).status).toBe(503);
      proxy.restore();
      await expect.poll(() => gateway.completionLog.stats.spooled, { timeout: 15_000 }).toBe(0);
      expect((await read(answer.id)).body).toMatchObject({
        id: answer.id,
        choices: [{ message: { content: answer.choices[0]!.message.content } }],
      });
      expect((await read("chatcmpl-nowhere")).status).toBe(404);
    } finally {
      await gateway[Symbol.asyncDispose]();
      await proxy.close();
      await database[Symbol.asyncDispose]();
    }
  });
});

describe.each(["pglite", "postgres"] as const)(
  "answers PostgreSQL cannot store as they are, on %s",
  (kind) => {
    let gateway: TestGateway;
    let database: TestDatabase | undefined;
    beforeAll(async () => {
      database = kind === "postgres" ? await createTestDatabase("postgres") : undefined;
      gateway = await startGateway(
        { modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 },
        database ? { databaseUrl: database.url } : {},
      );
    });
    afterAll(async () => {
      await gateway?.[Symbol.asyncDispose]();
      await database?.[Symbol.asyncDispose]();
    });

    const odd = "fever\u0000 39 °C, lone \ud800 and \udc00, U+FFFF \uffff0000, pair 🤒";
    const post = (path: string, body: unknown) =>
      fetch(`${gateway.url}${path}`, {
        method: "POST",
        headers: { ...gateway.authHeaders, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const read = async <T>(path: string) =>
      (await (await fetch(`${gateway.url}${path}`, { headers: gateway.authHeaders })).json()) as T;

    it("records NUL and lone surrogates in messages, user and metadata and reads them back byte-identical", async () => {
      const messages = [
        { role: "system", content: `You are careful.${odd}` },
        { role: "user", content: odd },
      ];
      const request = {
        model: "tiny",
        messages,
        max_tokens: 4,
        user: `nurse${odd}`,
        metadata: { [`ward${odd}`]: odd },
      };
      const whole = (await (await post("/v1/chat/completions", request)).json()) as { id: string };
      const streamed = await post("/v1/chat/completions", { ...request, stream: true });
      const [first] = await readSse(streamed);
      const streamedId = (JSON.parse(first!) as { id: string }).id;
      await gateway.completionLog.flush();
      for (const id of [whole.id, streamedId]) {
        const stored = await read<{
          metadata: Record<string, string>;
          medgate: { messages: unknown; user: string; status: string };
        }>(`/v1/chat/completions/${id}`);
        expect(JSON.stringify(stored.medgate.messages)).toBe(JSON.stringify(messages));
        expect(stored.medgate.user).toBe(request.user);
        expect(stored.metadata).toEqual(request.metadata);
      }
      expect(gateway.completionLog.stats.rejected).toBe(0);

      for (const feedback of [
        { type: "correction", completion_id: whole.id, correction: `Better: ${odd}` },
        { type: "comment", completion_id: whole.id, comment: odd },
      ]) {
        expect((await post("/v1/feedback", feedback)).status).toBe(201);
      }
      const given = await read<{ data: { correction: string | null; comment: string | null }[] }>(
        `/v1/feedback?completion_id=${whole.id}`,
      );
      expect(given.data.map((item) => item.correction ?? item.comment)).toEqual([`Better: ${odd}`, odd]);
    });
  },
);
