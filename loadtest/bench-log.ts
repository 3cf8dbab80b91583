// npm run bench:log — the response log's cost, in one run: (1) rows/s the log writer sustains into
// PostgreSQL; (2) serving through the gateway with the log writing to PostgreSQL, the durable acknowledgement
// (an answer's end waits for its row's commit, rows finishing together share one) against the old order (the
// row queued in memory, written within 50 ms, the answer sent at once): the time the acknowledgement adds to the
// end of a response (p50, p99) and aggregate generated tokens/s at concurrency 8 and 32, alternating rounds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApiKey } from "../db/apiKeys.ts";
import type { NewCompletionRow } from "../db/schema.ts";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { CompletionLog } from "../gateway/log/CompletionLog.ts";
import type { CompletionRecorder } from "../gateway/log/completionRecord.ts";
import { ServedModels } from "../gateway/models/ServedModels.ts";
import { databaseGatewayDeps } from "../gateway/openGateway.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { scratchDatabase } from "./bench-parts/scratchDatabase.ts";
import { median, percentile } from "./benchParts.ts";
import { runChatLoad } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    postgres: { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    rows: { type: "string", default: "50000" },
    rounds: { type: "string", default: "4" },
    threads: { type: "string", default: "1" },
  },
});

// A scratch database on the PostgreSQL server, dropped at the end.
const scratch = await scratchDatabase(values.postgres, "medgate_bench");
const { database } = scratch;
const spoolDir = await mkdtemp(join(tmpdir(), "medgate-bench-spool-"));

try {
  // 1. Writer throughput: synthetic rows the size of a short medical exchange.
  const log = await CompletionLog.open({ db: database.db, spoolDir });
  const rowCount = Number(values.rows);
  const answer =
    "Fever is a body temperature of 38 °C or more. Drink fluids, rest, and see a clinician if it lasts.";
  const row = (index: number): NewCompletionRow => ({
    id: `chatcmpl-bench-${index}-${randomBytes(6).toString("hex")}`,
    createdAt: new Date(),
    request: { temperature: 0.7, max_tokens: 64 },
    messages: [{ role: "user", content: `Question ${index}: what should I do about a fever?` }],
    choices: [{ index: 0, text: answer, finishReason: "stop" }],
    stored: true,
    status: "stop",
    promptHash: randomBytes(32).toString("hex"),
    promptTokens: 30,
    completionTokens: 40,
    latencyMs: 500,
    timeToFirstTokenMs: 20,
    modelName: "bench",
    traceId: "bench",
  });
  const started = performance.now();
  for (let index = 0; index < rowCount; index++) {
    void log.record(row(index)).catch(() => {}); // flush() below waits for every row
    // Yield now and then, as a server between requests would.
    if (index % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await log.flush();
  const writerSeconds = (performance.now() - started) / 1000;
  await log[Symbol.asyncDispose]();
  console.log(
    `log writer into PostgreSQL: ${rowCount} rows in ${writerSeconds.toFixed(2)} s = ${(rowCount / writerSeconds).toFixed(0)} rows/s`,
  );

  // 2. Serving with the durable acknowledgement and with the old order, over the same database.
  const engine = await InferenceEngine.load({
    modelPath: values.model,
    modelName: "bench",
    gpu: false,
    parallel: 8,
    contextSize: 1024,
    threads: Number(values.threads),
  });
  const { secret } = await createApiKey(database.db, { name: "bench", role: "client" });
  const durableLog = await CompletionLog.open({ db: database.db, spoolDir: join(spoolDir, "durable") });
  const queuedLog = await CompletionLog.open({
    db: database.db,
    spoolDir: join(spoolDir, "queued"),
    flushIntervalMs: 50,
  });
  /** Milliseconds each answer's end waited for its row to be durable. */
  const ackWaitsMs: number[] = [];
  const sides = {
    durable: {
      record: async (row: NewCompletionRow) => {
        const started = performance.now();
        await durableLog.record(row);
        ackWaitsMs.push(performance.now() - started);
      },
    },
    queued: {
      record: (row: NewCompletionRow) => {
        void queuedLog.record(row).catch(() => {});
        return Promise.resolve();
      },
    },
  } satisfies Record<string, CompletionRecorder>;
  type Side = keyof typeof sides;
  const gateways: Partial<Record<Side, GatewayServer>> = {};
  for (const [side, completionLog] of Object.entries(sides) as [Side, CompletionRecorder][]) {
    const models = new ServedModels();
    models.serve("bench", engine);
    const app = createApp(databaseGatewayDeps(database.db, { models, completionLog }));
    gateways[side] = await GatewayServer.listen(app, models, { port: 0 });
  }
  const questions = ["What are warning signs of a stroke?", "How is iron-deficiency anaemia diagnosed?"];
  const load = (side: Side, concurrency: number) =>
    runChatLoad({
      baseUrl: `${gateways[side]!.url}/v1`,
      concurrency,
      requests: concurrency * 4,
      apiKey: secret,
      // Streamed, as chat clients read answers: the held end is the last chunk and [DONE].
      stream: true,
      body: (index) => ({
        model: "bench",
        messages: [{ role: "user", content: questions[index % questions.length]! }],
        max_tokens: 64,
        temperature: 0.7,
        seed: index,
      }),
    });
  await load("queued", 8); // warm-up
  ackWaitsMs.length = 0;
  const rounds = Number(values.rounds);
  console.log(`\n| concurrency | old order tok/s | durable tok/s | durable / old | rounds (old; durable) |`);
  console.log("| --- | --- | --- | --- | --- |");
  let failures = 0;
  for (const concurrency of [8, 32]) {
    const measured: Record<Side, number[]> = { durable: [], queued: [] };
    for (let round = 0; round < rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ["durable", "queued"] : ["queued", "durable"];
      for (const side of order) {
        const result = await load(side, concurrency);
        failures += result.failures;
        measured[side].push(result.tokensPerSecond);
      }
    }
    const [queued, durable] = [median(measured.queued), median(measured.durable)];
    console.log(
      `| ${concurrency} | ${queued.toFixed(1)} | ${durable.toFixed(1)} | ${(durable / queued).toFixed(3)}× | ${measured.queued.map((v) => v.toFixed(1)).join(", ")}; ${measured.durable.map((v) => v.toFixed(1)).join(", ")} |`,
    );
  }
  console.log(
    `\ndurable acknowledgement, time added to the end of a response over ${ackWaitsMs.length} answers: p50 ${percentile(ackWaitsMs, 0.5).toFixed(2)} ms, p99 ${percentile(ackWaitsMs, 0.99).toFixed(2)} ms, max ${Math.max(...ackWaitsMs).toFixed(2)} ms`,
  );
  console.log(
    `rows per insert, durable: ${(durableLog.stats.written / Math.max(1, durableLog.stats.inserts)).toFixed(2)}; failed requests: ${failures}`,
  );
  for (const gateway of Object.values(gateways)) await gateway[Symbol.asyncDispose]().catch(() => {});
  await durableLog[Symbol.asyncDispose]();
  await queuedLog[Symbol.asyncDispose]();
  await engine[Symbol.asyncDispose]().catch(() => {});
} finally {
  await scratch[Symbol.asyncDispose]();
  await rm(spoolDir, { recursive: true, force: true });
}
