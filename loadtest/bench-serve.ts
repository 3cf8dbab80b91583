// npm run bench:serve — aggregate generated tokens/s through the HTTP gateway versus calling the inference
// engine in-process, same model and settings, at concurrency 1 and 8, in one run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApiKey } from "../db/apiKeys.ts";
import { createDatabase } from "../db/createDatabase.ts";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { noCompletionLog } from "../gateway/log/completionRecord.ts";
import { ServedModels } from "../gateway/models/ServedModels.ts";
import { databaseGatewayDeps } from "../gateway/openGateway.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { benchBody, median, runLoadClient } from "./benchParts.ts";
import { type LoadResult, runChatLoad } from "./chatLoad.ts";

// `--tracing`: the tracing on/off comparison instead (two serve processes; see bench-tracing.ts).
if (process.argv.includes("--tracing")) {
  await import("./bench-tracing.ts");
  process.exit(0);
}
// `--against llama-server`: medgate side by side with llama-server on the same GGUF (bench-against.ts).
if (process.argv.includes("--against")) {
  await import("./bench-against.ts");
  process.exit(0);
}
// `--upstream`: medgate in front of llama-server against llama-server called directly (bench-upstream.ts).
if (process.argv.includes("--upstream")) {
  await import("./bench-upstream.ts");
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
    stream: { type: "boolean", default: false },
    /** Where the HTTP clients run: "process" (a child process at lower priority) or "inprocess". */
    client: { type: "string", default: "process" },
    tracing: { type: "boolean", default: false },
  },
});
const maxTokens = Number(values["max-tokens"]);
const rounds = Number(values.rounds);
const requestFor = (index: number) => benchBody("bench", index, maxTokens);

const engine = await InferenceEngine.load({
  modelPath: values.model,
  modelName: "bench",
  gpu: false,
  parallel: 8,
  contextSize: 1024,
  threads: values.threads ? Number(values.threads) : undefined,
});
const models = new ServedModels();
models.serve("bench", engine);
// The gateway as serve builds it, on a scratch embedded database; the response log is off here (its cost is
// measured by bench:log): only serving is compared.
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-serve-"));
const database = await createDatabase({ dataDir: join(scratch, "db") });
await database.migrate();
const { secret: apiKey } = await createApiKey(database.db, { name: "bench", role: "client" });
const server = await GatewayServer.listen(
  createApp(databaseGatewayDeps(database.db, { models, completionLog: noCompletionLog })),
  models,
  { port: 0 },
);

async function direct(concurrency: number, requests: number): Promise<LoadResult> {
  let next = 0;
  let completionTokens = 0;
  const latenciesMs: number[] = [];
  const started = performance.now();
  const worker = async () => {
    for (let index = next++; index < requests; index = next++) {
      const body = requestFor(index);
      const sent = performance.now();
      const stream = await engine.startChat({
        messages: body.messages,
        maxTokens: body.max_tokens,
        sampling: { temperature: body.temperature },
        seed: body.seed,
      });
      const result = await stream.result;
      completionTokens += result.completionTokens;
      latenciesMs.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  return {
    requests,
    completionTokens,
    wallMs,
    tokensPerSecond: (completionTokens / wallMs) * 1000,
    latenciesMs,
    timeToFirstTokenMs: [],
    failures: 0,
  };
}

/** HTTP clients run in a child process at lower priority: real clients do not share the server's event loop. */
async function viaGateway(
  concurrency: number,
  requests: number,
): Promise<LoadResult & { clientCpuMs: number }> {
  if (values.client === "inprocess") {
    const result = await runChatLoad({
      baseUrl: `${server.url}/v1`,
      concurrency,
      requests,
      body: requestFor,
      stream: values.stream,
      apiKey,
    });
    // In-process clients spend the server process's own CPU time: there is no separate figure.
    return { ...result, clientCpuMs: Number.NaN };
  }
  return runLoadClient({
    url: `${server.url}/v1`,
    apiKey,
    concurrency,
    bodies: Array.from({ length: requests }, (_, index) => requestFor(index)),
    stream: values.stream,
  });
}

const levels = [
  { concurrency: 1, requests: 8 },
  { concurrency: 8, requests: 32 },
];
console.error(
  `model ${values.model}, ${engine.info.threads} thread(s), ${engine.info.parallel} sequences, max_tokens ${maxTokens}, ${rounds} rounds, ${values.stream ? "streamed" : "whole"} answers, clients ${values.client === "inprocess" ? "in the server process" : "in a child process"}`,
);
await direct(2, 4); // warm-up

type Row = {
  concurrency: number;
  direct: number[];
  gateway: number[];
  clientCores: number[];
  failures: number;
};
const rows: Row[] = [];
for (const { concurrency, requests } of levels) {
  const row: Row = { concurrency, direct: [], gateway: [], clientCores: [], failures: 0 };
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so that drift of the machine favours neither.
    const measureDirect = async () => row.direct.push((await direct(concurrency, requests)).tokensPerSecond);
    const measureGateway = async () => {
      const result = await viaGateway(concurrency, requests);
      row.gateway.push(result.tokensPerSecond);
      row.clientCores.push(result.clientCpuMs / result.wallMs);
      row.failures += result.failures;
    };
    if (round % 2 === 0) {
      await measureDirect();
      await measureGateway();
    } else {
      await measureGateway();
      await measureDirect();
    }
  }
  const list = (numbers: number[]) => numbers.map((value) => value.toFixed(1)).join(", ");
  console.error(`concurrency ${concurrency}: direct ${list(row.direct)}; gateway ${list(row.gateway)}`);
  rows.push(row);
}
await server[Symbol.asyncDispose]();
await database[Symbol.asyncDispose]();
await rm(scratch, { recursive: true, force: true });

console.log(
  "| concurrency | direct engine tok/s | gateway tok/s | gateway / direct | failed requests | load client CPU (cores) |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const row of rows) {
  const d = median(row.direct);
  const g = median(row.gateway);
  const cells = [row.concurrency, d.toFixed(1), g.toFixed(1), `${(g / d).toFixed(3)}×`, row.failures];
  console.log(`| ${cells.join(" | ")} | ${median(row.clientCores).toFixed(3)} |`);
}
const [c1, c8] = rows as [Row, Row];
const scaling = (side: "direct" | "gateway") => (median(c8[side]) / median(c1[side])).toFixed(2);
console.log(
  `\nbatching: concurrency 8 / concurrency 1 aggregate tok/s — direct ${scaling("direct")}×, gateway ${scaling("gateway")}×`,
);
