// npm run bench:serve -- --upstream — generated tokens/s through medgate in front of llama-server against
// llama-server called directly, same GGUF, same load client, at concurrency 1, 8 and 32, in one run.
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
import { UpstreamBackend } from "../gateway/upstream/UpstreamBackend.ts";
import { UpstreamPool } from "../gateway/upstream/UpstreamPool.ts";
import { parseUpstreamsFile } from "../gateway/upstream/upstreamConfig.ts";
import { benchBodies, median, percentile, runLoadClient } from "./benchParts.ts";
import { startLlamaServer } from "./llamaServer.ts";

const { values } = parseArgs({
  options: {
    upstream: { type: "boolean", default: true },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string", default: "1" },
    parallel: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "2" },
    stream: { type: "boolean", default: true },
  },
  allowPositionals: true,
});
const maxTokens = Number(values["max-tokens"]);
const rounds = Number(values.rounds);
const parallel = Number(values.parallel);
const llamaServer = await startLlamaServer({
  modelPath: values.model,
  parallel,
  contextSize: 1024 * parallel,
  threads: Number(values.threads),
  alias: "bench",
});
// medgate as serve builds it in front of the llama-server, on a scratch embedded database; the response log
// is off (its cost is measured by bench:log): only forwarding is compared.
const { file, apiKeys } = parseUpstreamsFile(
  JSON.stringify({
    models: {
      bench: {
        upstreams: [{ name: "llama-server", url: llamaServer.url, model: "bench", maxConcurrency: 256 }],
      },
    },
  }),
  "bench",
  {},
);
const pool = new UpstreamPool("bench", file.models.bench!, apiKeys);
const models = new ServedModels();
models.serve("bench", new UpstreamBackend(pool));
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-upstream-"));
const database = await createDatabase({ dataDir: join(scratch, "db") });
await database.migrate();
const { secret: apiKey } = await createApiKey(database.db, { name: "bench", role: "client" });
const server = await GatewayServer.listen(
  createApp(databaseGatewayDeps(database.db, { models, completionLog: noCompletionLog })),
  models,
  { port: 0 },
);

const load = (url: string, concurrency: number, requests: number) =>
  runLoadClient({
    url,
    apiKey,
    concurrency,
    bodies: benchBodies("bench", requests, maxTokens),
    stream: values.stream,
  });

const levels = [
  { concurrency: 1, requests: 8 },
  { concurrency: 8, requests: 32 },
  { concurrency: 32, requests: 64 },
];
console.error(
  `model ${values.model}, llama-server ${parallel} slots, ${values.threads} thread(s), max_tokens ${maxTokens}, ${rounds} rounds, ${values.stream ? "streamed" : "whole"} answers`,
);
await load(llamaServer.url, 2, 4); // warm-up
type Row = { concurrency: number; direct: number[]; gateway: number[]; p50: number[][]; failures: number };
const rows: Row[] = [];
for (const { concurrency, requests } of levels) {
  const row: Row = { concurrency, direct: [], gateway: [], p50: [[], []], failures: 0 };
  for (let round = 0; round < rounds; round++) {
    const measure = async (side: "direct" | "gateway") => {
      const result = await load(
        side === "direct" ? llamaServer.url : `${server.url}/v1`,
        concurrency,
        requests,
      );
      row[side].push(result.tokensPerSecond);
      row.p50[side === "direct" ? 0 : 1]!.push(percentile(result.latenciesMs, 0.5));
      row.failures += result.failures;
      for (const error of result.errors ?? [])
        console.error(`${side}, concurrency ${concurrency}: failed: ${error}`);
    };
    // Alternate which side goes first, so that drift of the machine favours neither.
    for (const side of round % 2 === 0
      ? (["direct", "gateway"] as const)
      : (["gateway", "direct"] as const)) {
      await measure(side);
    }
  }
  const list = (numbers: number[]) => numbers.map((value) => value.toFixed(1)).join(", ");
  console.error(
    `concurrency ${concurrency}: llama-server ${list(row.direct)}; medgate → llama-server ${list(row.gateway)}`,
  );
  rows.push(row);
}
await server[Symbol.asyncDispose]();
pool[Symbol.dispose]();
await llamaServer.kill();
await database[Symbol.asyncDispose]();
await rm(scratch, { recursive: true, force: true });

console.log(
  "| concurrency | llama-server tok/s | medgate → llama-server tok/s | medgate / llama-server | latency p50 ms (direct / medgate) | failed requests |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const row of rows) {
  const d = median(row.direct);
  const g = median(row.gateway);
  const latency = `${median(row.p50[0]!).toFixed(0)} / ${median(row.p50[1]!).toFixed(0)}`;
  console.log(
    `| ${[row.concurrency, d.toFixed(1), g.toFixed(1), `${(g / d).toFixed(3)}×`, latency, row.failures].join(" | ")} |`,
  );
}
