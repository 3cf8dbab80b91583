// npm run bench:log — the response log's cost, in one run: (1) rows/s the log writer sustains into
// PostgreSQL; (2) aggregate generated tokens/s through the gateway at concurrency 8 with the log writing
// to PostgreSQL versus the log off, alternating rounds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { createApiKey } from "../db/apiKeys.ts";
import { createDatabase } from "../db/createDatabase.ts";
import type { NewCompletionRow } from "../db/schema.ts";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { CompletionLog } from "../gateway/log/CompletionLog.ts";
import type { CompletionRecorder } from "../gateway/log/completionRecord.ts";
import { ServedModels } from "../gateway/models/ServedModels.ts";
import { databaseGatewayDeps } from "../gateway/openGateway.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { runChatLoad } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    postgres: { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    rows: { type: "string", default: "50000" },
    rounds: { type: "string", default: "4" },
  },
});

// A scratch database on the PostgreSQL server, dropped at the end.
const name = `medgate_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: values.postgres });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = values.postgres.replace(/\/[^/]*$/u, `/${name}`);
const database = await createDatabase({ url });
await database.migrate();
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
    log.record(row(index));
    // Yield now and then, as a server between requests would.
    if (index % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await log.flush();
  const writerSeconds = (performance.now() - started) / 1000;
  await log[Symbol.asyncDispose]();
  console.log(
    `log writer into PostgreSQL: ${rowCount} rows in ${writerSeconds.toFixed(2)} s = ${(rowCount / writerSeconds).toFixed(0)} rows/s`,
  );

  // 2. Serving with the log on and off.
  const engine = await InferenceEngine.load({
    modelPath: values.model,
    modelName: "bench",
    gpu: false,
    parallel: 8,
    contextSize: 1024,
  });
  const { secret } = await createApiKey(database.db, { name: "bench", role: "client" });
  const servingLog = await CompletionLog.open({ db: database.db, spoolDir });
  const sides: Record<"on" | "off", CompletionRecorder> = { on: servingLog, off: { record() {} } };
  const gateways: Record<string, GatewayServer> = {};
  for (const [side, completionLog] of Object.entries(sides)) {
    const models = new ServedModels();
    models.serve("bench", engine);
    const app = createApp(databaseGatewayDeps(database.db, { models, completionLog }));
    gateways[side] = await GatewayServer.listen(app, models, { port: 0 });
  }
  const questions = ["What are warning signs of a stroke?", "How is iron-deficiency anaemia diagnosed?"];
  const load = (side: "on" | "off") =>
    runChatLoad({
      baseUrl: `${gateways[side]!.url}/v1`,
      concurrency: 8,
      requests: 32,
      apiKey: secret,
      body: (index) => ({
        model: "bench",
        messages: [{ role: "user", content: questions[index % questions.length]! }],
        max_tokens: 64,
        temperature: 0.7,
        seed: index,
      }),
    });
  await load("off"); // warm-up
  const measured: Record<"on" | "off", number[]> = { on: [], off: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    const order: ("on" | "off")[] = round % 2 === 0 ? ["on", "off"] : ["off", "on"];
    for (const side of order) measured[side].push((await load(side)).tokensPerSecond);
  }
  await servingLog.flush();
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  console.log(`\n| response log | aggregate tok/s at concurrency 8 (median of ${values.rounds}) | rounds |`);
  console.log("| --- | --- | --- |");
  for (const side of ["off", "on"] as const) {
    console.log(
      `| ${side} | ${median(measured[side]).toFixed(1)} | ${measured[side].map((v) => v.toFixed(1)).join(", ")} |`,
    );
  }
  console.log(`\nlog on / log off: ${(median(measured.on) / median(measured.off)).toFixed(3)}×`);
  for (const gateway of Object.values(gateways)) await gateway[Symbol.asyncDispose]().catch(() => {});
  await servingLog[Symbol.asyncDispose]();
  await engine[Symbol.asyncDispose]().catch(() => {});
} finally {
  await database[Symbol.asyncDispose]();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
  await rm(spoolDir, { recursive: true, force: true });
}
