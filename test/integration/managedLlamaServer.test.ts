// `medgate serve --engine llama-server`, run as a user runs it: chat answered by the llama-server child it
// starts (streamed and whole, every answer logged under the champion), scoring on the same GGUF in-process,
// bad input refused in OpenAI's shape, the child killed with SIGKILL (in-flight answers end as `error` rows,
// the gateway restarts it and answers again), a promotion moving new requests to a new child while the old one
// stops, and no child left behind when the gateway itself is killed.
import { once } from "node:events";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { eq } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { makeChampion, registerChampion } from "../../db/championChanges.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { completions, type ModelVersionRow } from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { llamaServerBinary } from "../../loadtest/llamaServer.ts";
import { processesMatching, spawnMedgate } from "../support/medgateCli.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

/** The demo model, fetched by `npm run setup` (scripts/setup-python.sh): it writes long answers, so streams are
 * still running when the test kills the child. */
const demoModel = ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf";

let database: TestDatabase;
let scratch: string;
let first: ModelVersionRow;
let serve: ReturnType<typeof spawnMedgate>;
let stderr = "";
let url: string;
let client: OpenAI;
let apiKey: string;
const question: OpenAI.ChatCompletionMessageParam[] = [
  { role: "user", content: "What are the first signs of sepsis?" },
];

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; serve said:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** llama-server processes running on `modelPath`. */
const childrenOn = (modelPath: string) => processesMatching(`^\\S*llama-server -m ${modelPath} `);

async function rowsOf(id: string) {
  return database.db.select().from(completions).where(eq(completions.id, id));
}

beforeAll(async () => {
  await llamaServerBinary(); // built once per machine (scripts/build-llama-server.sh); serve finds it there
  database = await createTestDatabase("postgres");
  scratch = await mkdtemp(join(tmpdir(), "medgate-managed-"));
  first = await registerChampion(
    database.db,
    { name: "demo", ggufPath: demoModel, ggufSha256: await sha256OfFile(demoModel), config: {} },
    { actor: "managedLlamaServer.test", reason: "first champion" },
  );
  apiKey = (await createApiKey(database.db, { name: "test admin", role: "admin" })).secret;
  serve = spawnMedgate([
    "serve",
    ...["--engine", "llama-server", "--model", first.ggufPath, "--model-name", "demo"],
    ...["--database-url", database.url!, "--spool-dir", join(scratch, "spool"), "--port", "0"],
    ...["--threads", "1", "--parallel", "2", "--context", "512", "--queue", "8", "--gpu", "cpu"],
  ]);
  serve.stderr!.on("data", (data) => (stderr += data));
  const [line] = (await Promise.race([
    once(createInterface({ input: serve.stdout! }), "line"),
    once(serve, "exit").then(() => {
      throw new Error(`serve exited early:\n${stderr}`);
    }),
  ])) as [string];
  url = line;
  client = new OpenAI({ baseURL: url, apiKey, maxRetries: 0 });
}, 180_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill("SIGTERM");
    await serve.output;
  }
  await database?.[Symbol.asyncDispose]();
  await rm(scratch, { recursive: true, force: true });
});

describe("medgate serve --engine llama-server", () => {
  it("answers chat on its llama-server child, whole and streamed, logging each answer under the champion", async () => {
    expect(stderr).toMatch(/model "demo" ready on llama-server \(pid \d+, 2 slots × 512 tokens, 1 thread/u);
    expect(childrenOn(first.ggufPath)).toHaveLength(1);
    const whole = await client.chat.completions.create({
      model: "demo",
      messages: question,
      max_tokens: 12,
      temperature: 0,
    });
    expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    expect(whole.usage!.prompt_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({
      model: "demo",
      messages: question,
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    let streamed = "";
    let id = "";
    for await (const chunk of stream) {
      id = chunk.id;
      streamed += chunk.choices[0]?.delta.content ?? "";
    }
    // Greedy on the same weights: the same answer both ways.
    expect(streamed).toBe(whole.choices[0]!.message.content);
    // llama-server renders a conversation as the in-process engine does (its /tokenize applies medgate's chat
    // template): the same prompt tokens. With a system message, since SmolLM2's Jinja template adds a default
    // one that node-llama-cpp's equivalent ChatML wrapper leaves out.
    const conversation: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "You answer clinicians briefly." },
      ...question,
    ];
    const withSystem = await client.chat.completions.create({
      model: "demo",
      messages: conversation,
      max_tokens: 1,
    });
    const rendered = await fetch(url.replace(/\/v1$/u, "/tokenize"), {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "demo", messages: conversation }),
    });
    expect(((await rendered.json()) as { count: number }).count).toBe(withSystem.usage!.prompt_tokens);
    const rows = await waitFor(async () => {
      const found = [...(await rowsOf(whole.id)), ...(await rowsOf(id))];
      return found.length === 2 ? found : undefined;
    }, "both answers in the log");
    for (const row of rows) {
      expect(row.modelVersionId).toBe(first.id);
      expect(row.choices![0]!.text).toBe(streamed);
      expect(row.upstream).toBe("llama-server");
      expect(["stop", "length"]).toContain(row.status);
    }
  });

  it("scores with logprobs in-process on the same GGUF, loaded on first use", async () => {
    const scored = await client.completions.create({
      model: "demo",
      prompt: "Sepsis is a life-threatening",
      max_tokens: 0,
      echo: true,
      logprobs: 1,
    });
    const logprobs = scored.choices[0]!.logprobs!;
    expect(logprobs.tokens!.length).toBeGreaterThan(2);
    expect(logprobs.token_logprobs!.slice(1).every((value) => Number.isFinite(value) && value! <= 0)).toBe(
      true,
    );
    const tokenized = await fetch(url.replace(/\/v1$/u, "/tokenize"), {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "demo", prompt: "Sepsis is a life-threatening" }),
    });
    expect(tokenized.status).toBe(200);
    const { tokens } = (await tokenized.json()) as { tokens: number[] };
    // echo scores every prompt token (the first has no logprob).
    expect(logprobs.tokens).toHaveLength(tokens.length);
  });

  it("refuses bad input in OpenAI's error shape", async () => {
    const tooLong = await client.chat.completions
      .create({ model: "demo", messages: [{ role: "user", content: "fever ".repeat(2000) }], max_tokens: 4 })
      .catch((error: unknown) => error);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooLong as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/context/iu);
    const badTemperature = await client.chat.completions
      .create({ model: "demo", messages: question, temperature: 9 })
      .catch((error: unknown) => error);
    expect(badTemperature).toBeInstanceOf(OpenAI.BadRequestError);
    const unknown = await client.chat.completions
      .create({ model: "nope", messages: question })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("restarts a child killed with SIGKILL; answers in flight end as error rows, later ones are answered", async () => {
    const [pid] = childrenOn(first.ggufPath);
    const streams = await Promise.all(
      [0, 1].map(() =>
        client.chat.completions.create({
          model: "demo",
          messages: question,
          max_tokens: 400,
          temperature: 0,
          stream: true,
        }),
      ),
    );
    const ids = new Set<string>();
    const outcomes = streams.map(async (stream) => {
      try {
        for await (const chunk of stream) ids.add(chunk.id);
        return "finished";
      } catch {
        return "broken";
      }
    });
    await waitFor(() => ids.size === 2 || undefined, "both streams under way");
    process.kill(Number(pid), "SIGKILL");
    const ended = await Promise.all(outcomes);
    await waitFor(() => stderr.includes("exited unasked") || undefined, "the crash noticed");
    // Until it answers again (the restart waits 1 s), requests get 503 saying why.
    const during = await client.chat.completions
      .create({ model: "demo", messages: question, max_tokens: 4 })
      .catch((error: unknown) => error);
    expect(during).toBeInstanceOf(OpenAI.APIError);
    expect((during as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((during as InstanceType<typeof OpenAI.APIError>).message).toMatch(
      /llama-server of "demo" stopped and is restarting/u,
    );
    const answered = await waitFor(
      () =>
        client.chat.completions
          .create({ model: "demo", messages: question, max_tokens: 4 })
          .catch(() => undefined),
      "an answer after the restart",
    );
    expect(answered.choices[0]!.message.content).toBeDefined();
    await waitFor(
      () => /llama-server \(demo\) is back on port \d+/u.test(stderr) || undefined,
      "the restart logged",
    );
    const [restarted] = childrenOn(first.ggufPath);
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(pid);
    // Every request is in the log, the broken ones as errors.
    const rows = await waitFor(async () => {
      const found = (await Promise.all([...ids].map(rowsOf))).flat();
      return found.length === ids.size ? found : undefined;
    }, "the in-flight answers in the log");
    const broken = ended.filter((outcome) => outcome === "broken").length;
    expect(rows.filter((row) => row.status === "error")).toHaveLength(broken);
    expect(broken).toBeGreaterThan(0);
  });

  it("moves new requests to a new llama-server on promotion and stops the old one", async () => {
    const copy = join(scratch, "demo-v2.gguf");
    await copyFile(first.ggufPath, copy);
    const second = await registerModelVersion(database.db, {
      name: "demo",
      ggufPath: copy,
      ggufSha256: await sha256OfFile(copy),
      status: "candidate",
      parentId: first.id,
    });
    await makeChampion(database.db, second.id, {
      kind: "promote",
      actor: "managedLlamaServer.test",
      reason: "hot swap onto a new child",
    });
    await waitFor(() => stderr.includes("now serving demo v2") || undefined, "the swap");
    const answer = await client.chat.completions.create({ model: "demo", messages: question, max_tokens: 4 });
    const [row] = await waitFor(async () => {
      const found = await rowsOf(answer.id);
      return found.length === 1 ? found : undefined;
    }, "the answer after the swap in the log");
    expect(row!.modelVersionId).toBe(second.id);
    expect(childrenOn(copy)).toHaveLength(1);
    await waitFor(() => childrenOn(first.ggufPath).length === 0 || undefined, "the old child stopped");
  });

  it("leaves no llama-server behind when the gateway is killed with SIGKILL", async () => {
    const copy = join(scratch, "demo-v2.gguf");
    expect(childrenOn(copy)).toHaveLength(1);
    serve.kill("SIGKILL");
    await serve.output;
    await waitFor(() => childrenOn(copy).length === 0 || undefined, "the orphaned child to stop");
  });

  it("fails at once with exit 2 when no llama-server can be run", async () => {
    const missing = await spawnMedgate([
      "serve",
      ...["--engine", "llama-server", "--llama-server", join(scratch, "no-such-llama-server")],
      ...["--model", first.ggufPath, "--data-dir", join(scratch, "db"), "--port", "0"],
    ]).output;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("is not an executable llama-server");
  });
});
