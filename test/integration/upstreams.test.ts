// A served name answered by real llama-server upstreams on the demo GGUF (SmolLM2-135M: it writes long answers,
// so streams are still running when the tests act on them): load shared by least outstanding
// requests, 429 at the upstreams' limits, cancellation reaching the upstream, promotion switching the upstream
// model id atomically (in-flight streams finish where they started), and an upstream killed with SIGKILL
// mid-load: no request that had not started streaming is lost, each one that had ends with an error event
// and a `failed` row.
import { eq, inArray } from "drizzle-orm";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { championChangesOf, makeChampion } from "../../db/championChanges.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { completions, type ModelVersionRow } from "../../db/schema.ts";
import type { ChampionWatcher } from "../../gateway/models/ChampionWatcher.ts";
import { serveUpstreamNames } from "../../gateway/models/NameServing.ts";
import { parseUpstreamsFile } from "../../gateway/upstream/upstreamConfig.ts";
import { serveUpstreamModels, type UpstreamModels } from "../../gateway/upstream/upstreamModels.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { type LlamaServer, startLlamaServer } from "../../loadtest/llamaServer.ts";
import { testModels } from "../support/fixtures.ts";
import { type RecordingProxy, startRecordingProxy } from "../support/recordingProxy.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const question: OpenAI.ChatCompletionMessageParam[] = [
  {
    role: "user",
    content: "Write a long and detailed essay on asthma: causes, symptoms, diagnosis, treatment.",
  },
];
/** The demo model, fetched by `npm run setup` (scripts/setup-python.sh). */
const demoModel = ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf";

let database: TestDatabase;
let gateway: TestGateway;
let first: LlamaServer;
let second: LlamaServer;
let proxy: RecordingProxy;
let fleet: UpstreamModels;
let watcher: ChampionWatcher;
const log: string[] = [];

beforeAll(async () => {
  const { ggufPath } = testModels();
  database = await createTestDatabase("postgres");
  [gateway, first, second] = await Promise.all([
    startGateway({ modelPath: ggufPath, parallel: 1, contextSize: 512 }, { databaseUrl: database.url }),
    startLlamaServer({ modelPath: demoModel, parallel: 2, contextSize: 2048 }),
    startLlamaServer({ modelPath: demoModel, parallel: 2, contextSize: 2048 }),
  ]);
  proxy = await startRecordingProxy(second.url.replace(/\/v1$/u, ""));
  const upstream = (name: string, server: { url: string }, more: object = {}) => ({
    name,
    url: server.url,
    model: "tiny",
    ...more,
  });
  const { file, apiKeys } = parseUpstreamsFile(
    JSON.stringify({
      models: {
        fleet: {
          upstreams: [
            upstream("first", first, { maxConcurrency: 6 }),
            upstream("second", second, { maxConcurrency: 6 }),
          ],
          maxFailures: 1,
          ejectMs: 60_000,
          healthIntervalMs: 500,
        },
        narrow: { upstreams: [upstream("only", second, { maxConcurrency: 1 })] },
        promoted: { upstreams: [upstream("recorded", proxy)] },
      },
    }),
    "upstreams.json",
    {},
  );
  fleet = await serveUpstreamModels(database.db, gateway.models, file, apiKeys, (line) => log.push(line));
  watcher = await serveUpstreamNames({
    database,
    models: gateway.models,
    fleet,
    pollMs: 500,
    log: (line) => log.push(line),
  });
});
afterAll(async () => {
  await watcher?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  fleet?.[Symbol.dispose]();
  await Promise.all([first, second, proxy].map((part) => part?.[Symbol.asyncDispose]()));
  await database?.[Symbol.asyncDispose]();
});

async function rowsOf(ids: string[]) {
  await gateway.completionLog.flush();
  return database.db.select().from(completions).where(inArray(completions.id, ids));
}

/** Streams one answer, noting when its first text came and how it ended. */
async function streamOne(model: string, maxTokens: number, onText?: () => void) {
  const outcome = { id: "", firstTextAt: null as number | null, finish: null as string | null, error: "" };
  try {
    const stream = await gateway.client.chat.completions.create({
      model,
      messages: question,
      max_tokens: maxTokens,
      // Greedy, so that the answer's length is fixed: 457 tokens on the demo model, so streams of up to 100
      // tokens end by their limit (sampled, one sometimes ended early).
      temperature: 0,
      stream: true,
    });
    for await (const chunk of stream) {
      outcome.id = chunk.id;
      if (chunk.choices[0]?.delta.content && outcome.firstTextAt === null) {
        outcome.firstTextAt = performance.now();
        onText?.();
      }
      outcome.finish = chunk.choices[0]?.finish_reason ?? outcome.finish;
    }
  } catch (error) {
    outcome.error = error instanceof Error ? error.message : String(error);
  }
  return outcome;
}

describe("a name served by two llama-server upstreams", () => {
  it("shares load between them and logs which one answered", async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        gateway.client.chat.completions.create({ model: "fleet", messages: question, max_tokens: 16 }),
      ),
    );
    const rows = await rowsOf(answers.map((answer) => answer.id));
    expect(rows).toHaveLength(8);
    const answeredBy = (name: string) => rows.filter((row) => row.upstream === name).length;
    // Least outstanding requests: eight at once split about evenly.
    expect(answeredBy("first")).toBeGreaterThanOrEqual(2);
    expect(answeredBy("second")).toBeGreaterThanOrEqual(2);
    expect(answeredBy("first") + answeredBy("second")).toBe(8);
    expect(rows.every((row) => row.status === "length" || row.status === "stop")).toBe(true);
    expect(rows.every((row) => row.promptTokens > 0 && row.completionTokens > 0)).toBe(true);
    const ready = (await (await fetch(`${gateway.url}/ready`)).json()) as {
      models: { model: string; pool: { upstreams?: { name: string; healthy: boolean }[] } }[];
    };
    const served = ready.models.find((model) => model.model === "fleet")!;
    expect(served.pool.upstreams!.map((upstream) => upstream.healthy)).toEqual([true, true]);
  });

  it("answers 429 with Retry-After when every upstream is at its limit", async () => {
    const running = streamOne("narrow", 100);
    await expect.poll(() => fleet.pools.get("narrow")!.outstanding).toBe(1);
    const refused = await gateway.client.chat.completions
      .create({ model: "narrow", messages: question, max_tokens: 4 })
      .withResponse()
      .catch((error: unknown) => error as { status: number; headers: Headers; error: unknown });
    expect(refused).toMatchObject({ status: 429 });
    const { headers, error } = refused as { headers: Headers; error: { code: string } };
    expect(headers.get("retry-after")).toBe("1");
    expect(error.code).toBe("overloaded");
    expect((await running).finish).toBe("length");
  });

  it("passes an upstream's refusal of the request on as a 400", async () => {
    const tooLong = "asthma ".repeat(3000);
    await expect(
      gateway.client.chat.completions.create({
        model: "fleet",
        messages: [{ role: "user", content: tooLong }],
        max_tokens: 4,
      }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("aborts the upstream request at once when the client disconnects", async () => {
    const controller = new AbortController();
    const stream = await gateway.client.chat.completions.create(
      { model: "narrow", messages: question, max_tokens: 400, stream: true },
      { signal: controller.signal },
    );
    let received = 0;
    let id = "";
    try {
      for await (const chunk of stream) {
        id = chunk.id;
        if (++received === 3) controller.abort();
      }
    } catch {
      // A client leaving.
    }
    // The upstream's slot is free again: llama-server's /slots shows nothing processing.
    await expect
      .poll(
        async () => {
          const slots = (await (await fetch(`http://127.0.0.1:${second.port}/slots`)).json()) as {
            is_processing: boolean;
          }[];
          return slots.some((slot) => slot.is_processing);
        },
        { timeout: 3_000 },
      )
      .toBe(false);
    expect(fleet.pools.get("narrow")!.outstanding).toBe(0);
    const [row] = await rowsOf([id]);
    expect(row).toMatchObject({ status: "cancelled", upstream: "only" });
  });
});

describe("promotion on a fleet", () => {
  it("switches the upstream model id with the champion; in-flight streams finish on the old one", async () => {
    const { ggufPath } = testModels();
    const sha = await sha256OfFile(ggufPath);
    const register = (upstreamModel: string, parent?: ModelVersionRow) =>
      registerModelVersion(database.db, {
        name: "promoted",
        ggufPath,
        ggufSha256: sha,
        status: "candidate",
        upstreamModel,
        parentId: parent?.id,
      });
    const v1 = await register("tiny-adapter-1");
    await makeChampion(database.db, v1.id, { kind: "register", actor: "upstreams.test", reason: "first" });
    await expect.poll(() => gateway.models.get("promoted")?.versionId, { timeout: 10_000 }).toBe(v1.id);
    const v2 = await register("tiny-adapter-2", v1);

    let promoted: Promise<unknown> | undefined;
    const inFlight = streamOne("promoted", 100, () => {
      promoted ??= makeChampion(database.db, v2.id, {
        kind: "promote",
        actor: "upstreams.test",
        reason: "gate passed",
      });
    });
    await expect.poll(() => gateway.models.get("promoted")?.versionId, { timeout: 10_000 }).toBe(v2.id);
    const after = await gateway.client.chat.completions.create({
      model: "promoted",
      messages: question,
      max_tokens: 4,
    });
    const before = await inFlight;
    await promoted;
    expect(before.finish).toBe("length");
    expect(proxy.models.slice(-2)).toEqual(["tiny-adapter-1", "tiny-adapter-2"]);
    const rows = await rowsOf([before.id, after.id]);
    const versionOf = (id: string) => rows.find((row) => row.id === id)?.modelVersionId;
    expect(versionOf(before.id)).toBe(v1.id);
    expect(versionOf(after.id)).toBe(v2.id);
    const changes = await championChangesOf(database.db, "promoted");
    expect(changes.map((change) => change.kind)).toEqual(["promote", "register"]);
    expect(log.some((line) => line.includes("now serving promoted v2 (upstream model tiny-adapter-2)"))).toBe(
      true,
    );
  });
});

describe("an upstream killed mid-load", () => {
  it("retries what had not started streaming and fails with a row what had", async () => {
    let killedAt = Number.POSITIVE_INFINITY;
    let killing: Promise<void> | undefined;
    let texts = 0;
    // Twelve streams at once: two generating and four waiting on each llama-server (two slots each).
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, () =>
        streamOne("fleet", 40, () => {
          // Once several streams have text, kill the first upstream as a crash would.
          if (++texts === 3 && !killing) {
            killedAt = performance.now();
            killing = first.kill();
          }
        }),
      ),
    );
    await killing;
    expect(
      outcomes.filter((outcome) => outcome.id === ""),
      JSON.stringify(outcomes),
    ).toEqual([]);
    const rows = await rowsOf(outcomes.map((outcome) => outcome.id));
    expect(rows).toHaveLength(12);
    const rowOf = (id: string) => rows.find((row) => row.id === id)!;
    const broken = outcomes.filter((outcome) => outcome.finish === null);
    const finished = outcomes.filter((outcome) => outcome.finish !== null);
    // Streams that had text from the killed upstream end with an error event and a failed row.
    expect(broken.length).toBeGreaterThan(0);
    for (const outcome of broken) {
      expect(outcome.error).toMatch(/upstream first/u);
      expect(outcome.firstTextAt).not.toBeNull();
      expect(rowOf(outcome.id)).toMatchObject({ status: "error", upstream: "first" });
      expect(rowOf(outcome.id).error).toMatch(/upstream first/u);
    }
    // Every stream that had no text when the upstream died was answered whole, by the other one (text already
    // on its way when the kill came may arrive a moment later).
    const notStarted = outcomes.filter(
      (outcome) => outcome.firstTextAt === null || outcome.firstTextAt > killedAt + 250,
    );
    expect(notStarted.length).toBeGreaterThan(0);
    for (const outcome of notStarted) {
      expect(outcome.finish, JSON.stringify(outcome)).not.toBeNull();
      expect(rowOf(outcome.id)).toMatchObject({ upstream: "second", error: null });
    }
    expect(broken.length + finished.length).toBe(12);
    // The dead upstream is ejected: what follows goes to the other one, nothing fails.
    const next = await Promise.all(
      Array.from({ length: 4 }, () =>
        gateway.client.chat.completions.create({ model: "fleet", messages: question, max_tokens: 4 }),
      ),
    );
    const nextRows = await rowsOf(next.map((answer) => answer.id));
    expect(nextRows.every((row) => row.upstream === "second")).toBe(true);
    const [stats] = fleet.pools.get("fleet")!.stats;
    expect(stats).toMatchObject({ name: "first", healthy: false });
    const failedRow = await database.db.select().from(completions).where(eq(completions.upstream, "first"));
    expect(failedRow.some((row) => row.status === "error")).toBe(true);
  });
});
