// npm run bench:serve -- --against llama-server — medgate (`medgate serve`, its own engine) side by side with
// llama-server built from the llama.cpp node-llama-cpp bundles, on the same GGUF with the same threads, context
// and parallel slots, driven by the same load client in one run: generated tokens/s at concurrency 1, 8 and 32
// and time to first token p50/p99, on each model given; prints medgate / llama-server.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultThreadCount } from "../inference/threadDefaults.ts";
import { benchBodies, median, percentile, runLoadClient, startServeProcess } from "./benchParts.ts";
import { startLlamaServer } from "./llamaServer.ts";

const { values } = parseArgs({
  options: {
    against: { type: "string", default: "llama-server" },
    /** Comma-separated GGUF paths. Default: the tiny test model (when the tests wrote it) and the demo model */
    models: { type: "string" },
    threads: { type: "string" },
    /** medgate's threads when they should differ from llama-server's (to compare each at its best). */
    "medgate-threads": { type: "string" },
    parallel: { type: "string", default: "8" },
    context: { type: "string", default: "1024" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "2" },
    levels: { type: "string", default: "1:8,8:32,32:64" },
  },
  allowPositionals: true,
});
if (values.against !== "llama-server") throw new Error("--against takes llama-server");

/** The tiny test model the integration tests write into .medgate/test-fixtures/ (the plain one). */
function tinyFixture(): string[] {
  const root = ".medgate/test-fixtures";
  if (!existsSync(root)) return [];
  const dirs = readdirSync(root).filter(
    (dir) => !dir.includes("-") && existsSync(join(root, dir, "tiny-llama.gguf")),
  );
  return dirs.slice(0, 1).map((dir) => join(root, dir, "tiny-llama.gguf"));
}
const models = values.models?.split(",") ?? [
  ...tinyFixture(),
  ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf",
];
const parallel = Number(values.parallel);
const context = Number(values.context);
const maxTokens = Number(values["max-tokens"]);
const rounds = Number(values.rounds);
const levels = values.levels.split(",").map((level) => {
  const [concurrency, requests] = level.split(":").map(Number);
  return { concurrency: concurrency!, requests: requests! };
});

type Side = { tokensPerSecond: number[]; ttft: number[]; failures: number };
type Row = { model: string; threads: string; concurrency: number; medgate: Side; llama: Side };
const rows: Row[] = [];
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-against-"));
try {
  for (const model of models) {
    const threads = values.threads
      ? Number(values.threads)
      : defaultThreadCount(statSync(model).size, availableParallelism());
    await using llamaServer = await startLlamaServer({
      modelPath: model,
      parallel,
      contextSize: context * parallel,
      threads,
      alias: "bench",
    });
    await using medgate = await startServeProcess([
      ...[
        "--model",
        model,
        "--model-name",
        "bench",
        "--port",
        "0",
        "--data-dir",
        join(scratch, `db-${rows.length}`),
      ],
      ...["--threads", values["medgate-threads"] ?? String(threads), "--parallel", String(parallel)],
      ...["--context", String(context)],
      ...["--queue", "256"],
    ]);
    const targets = { medgate: { url: medgate.url, apiKey: medgate.key }, llama: { url: llamaServer.url } };
    const load = (side: "medgate" | "llama", concurrency: number, requests: number) =>
      runLoadClient({
        ...targets[side],
        concurrency,
        bodies: benchBodies("bench", requests, maxTokens),
        stream: true,
      });
    await load("medgate", 2, 4); // warm-up
    await load("llama", 2, 4);
    for (const { concurrency, requests } of levels) {
      const side = (): Side => ({ tokensPerSecond: [], ttft: [], failures: 0 });
      const threadsShown = values["medgate-threads"]
        ? `${threads} / ${values["medgate-threads"]}`
        : String(threads);
      const row: Row = { model, threads: threadsShown, concurrency, medgate: side(), llama: side() };
      for (let round = 0; round < rounds; round++) {
        // Alternate which side goes first, so that drift of the machine favours neither.
        for (const name of round % 2 === 0
          ? (["llama", "medgate"] as const)
          : (["medgate", "llama"] as const)) {
          const result = await load(name, concurrency, requests);
          row[name].tokensPerSecond.push(result.tokensPerSecond);
          row[name].ttft.push(...result.timeToFirstTokenMs);
          row[name].failures += result.failures;
          for (const error of result.errors ?? [])
            console.error(`${name}, concurrency ${concurrency}: failed: ${error}`);
        }
      }
      const list = (numbers: number[]) => numbers.map((value) => value.toFixed(1)).join(", ");
      console.error(
        `${model} c=${concurrency}: llama-server ${list(row.llama.tokensPerSecond)}; medgate ${list(row.medgate.tokensPerSecond)}`,
      );
      rows.push(row);
    }
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

console.error(
  `${parallel} slots × ${context} tokens, max_tokens ${maxTokens}, streamed, ${rounds} rounds per level (median tok/s; TTFT over all requests)`,
);
console.log(
  "| model | threads (llama-server / medgate) | concurrency | llama-server tok/s | medgate tok/s | medgate / llama-server | TTFT p50 ms (llama-server / medgate) | TTFT p99 ms (llama-server / medgate) | failed |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const row of rows) {
  const l = median(row.llama.tokensPerSecond);
  const m = median(row.medgate.tokensPerSecond);
  const ttft = (p: number) =>
    `${percentile(row.llama.ttft, p).toFixed(0)} / ${percentile(row.medgate.ttft, p).toFixed(0)}`;
  const name = row.model.split("/").at(-1);
  const cells = [name, row.threads, row.concurrency, l.toFixed(1), m.toFixed(1), `${(m / l).toFixed(3)}×`];
  console.log(
    `| ${[...cells, ttft(0.5), ttft(0.99), row.llama.failures + row.medgate.failures].join(" | ")} |`,
  );
}
