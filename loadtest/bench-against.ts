// npm run bench:serve -- --against llama-server — medgate side by side with llama-server built from the
// llama.cpp node-llama-cpp bundles, on the same GGUF with the same threads, context and parallel slots, driven
// by the same load client in one run: generated tokens/s at concurrency 1, 8 and 32 and time to first token
// p50/p99, on each model given; prints medgate / llama-server for both of medgate's engines (`--engine
// node-llama-cpp`, in-process, and `--engine llama-server`, the managed child; `--engines` picks them).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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
    engines: { type: "string", default: "node-llama-cpp,llama-server" },
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

const engines = values.engines.split(",").map((engine) => {
  if (engine !== "node-llama-cpp" && engine !== "llama-server")
    throw new Error("--engines takes node-llama-cpp and/or llama-server");
  return engine;
});

type SideName = "llama" | (typeof engines)[number];
/** CPU seconds the serving processes used while they generated, per 1000 tokens: the gateway's own and the rest. */
type Side = {
  tokensPerSecond: number[];
  ttft: number[];
  failures: number;
  tokens: number;
  gatewayCpuMs: number;
  engineCpuMs: number;
};
type Row = { model: string; threads: string; concurrency: number; sides: Map<SideName, Side> };
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
    const medgateArgs = (engine: string) => [
      ...["--engine", engine, "--model", model, "--model-name", "bench", "--port", "0"],
      ...["--data-dir", join(scratch, `db-${engine}-${rows.length}`)],
      ...["--threads", values["medgate-threads"] ?? String(threads), "--parallel", String(parallel)],
      ...["--context", String(context), "--queue", "256", "--gpu", "cpu"],
    ];
    const targets = new Map<SideName, { url: string; apiKey?: string }>([
      ["llama", { url: llamaServer.url }],
    ]);
    /** The process whose tree serves each side, and whether that process is medgate's gateway. */
    const servers = new Map<SideName, { pid: number; gateway: boolean }>([
      ["llama", { pid: llamaServer.process.pid!, gateway: false }],
    ]);
    await using stack = new AsyncDisposableStack();
    for (const engine of engines) {
      const medgate = stack.use(await startServeProcess(medgateArgs(engine)));
      targets.set(engine, { url: medgate.url, apiKey: medgate.key });
      servers.set(engine, { pid: medgate.child.pid!, gateway: true });
    }
    const load = (side: SideName, concurrency: number, requests: number) =>
      runLoadClient({
        ...targets.get(side)!,
        concurrency,
        bodies: benchBodies("bench", requests, maxTokens),
        stream: true,
      });
    for (const side of targets.keys()) await load(side, 2, 4); // warm-up
    for (const { concurrency, requests } of levels) {
      const threadsShown = values["medgate-threads"]
        ? `${threads} / ${values["medgate-threads"]}`
        : String(threads);
      const sides = new Map(
        [...targets.keys()].map((side): [SideName, Side] => [
          side,
          { tokensPerSecond: [], ttft: [], failures: 0, tokens: 0, gatewayCpuMs: 0, engineCpuMs: 0 },
        ]),
      );
      const row: Row = { model, threads: threadsShown, concurrency, sides };
      const order = [...targets.keys()];
      for (let round = 0; round < rounds; round++) {
        // Rotate which side goes first, so that drift of the machine favours none.
        for (const name of [...order.slice(round % order.length), ...order.slice(0, round % order.length)]) {
          const server = servers.get(name)!;
          const before = treeCpuMs(server.pid);
          const result = await load(name, concurrency, requests);
          const after = treeCpuMs(server.pid);
          const side = sides.get(name)!;
          side.tokens += result.completionTokens;
          const own = after.own - before.own;
          const rest = after.descendants - before.descendants;
          side.gatewayCpuMs += server.gateway ? own : 0;
          side.engineCpuMs += server.gateway ? rest : own + rest;
          side.tokensPerSecond.push(result.tokensPerSecond);
          side.ttft.push(...result.timeToFirstTokenMs);
          side.failures += result.failures;
          for (const error of result.errors ?? [])
            console.error(`${name}, concurrency ${concurrency}: failed: ${error}`);
        }
      }
      const list = (numbers: number[]) => numbers.map((value) => value.toFixed(1)).join(", ");
      console.error(
        `${model} c=${concurrency}: ${[...sides].map(([name, side]) => `${name === "llama" ? "llama-server" : `medgate (${name})`} ${list(side.tokensPerSecond)}`).join("; ")}`,
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
const label = (engine: string) => (engine === "node-llama-cpp" ? "in-process" : "managed llama-server");
console.log(
  `| model | threads | concurrency | llama-server tok/s | ${engines.map((engine) => `medgate ${label(engine)} tok/s (× llama-server)`).join(" | ")} | TTFT p50 ms (llama-server / ${engines.map(label).join(" / ")}) | TTFT p99 ms (same) | failed (same) |`,
);
console.log(`| ${Array.from({ length: 7 + engines.length }, () => "---").join(" | ")} |`);
for (const row of rows) {
  const llama = row.sides.get("llama")!;
  const l = median(llama.tokensPerSecond);
  const all = [llama, ...engines.map((engine) => row.sides.get(engine)!)];
  const ttft = (p: number) => all.map((side) => percentile(side.ttft, p).toFixed(0)).join(" / ");
  const name = row.model.split("/").at(-1);
  const medgate = engines.map((engine) => {
    const m = median(row.sides.get(engine)!.tokensPerSecond);
    return `${m.toFixed(1)} (${(m / l).toFixed(3)}×)`;
  });
  const failed = all.map((side) => side.failures).join(" / ");
  console.log(
    `| ${[name, row.threads, row.concurrency, l.toFixed(1), ...medgate, ttft(0.5), ttft(0.99), failed].join(" | ")} |`,
  );
}

console.log(
  `\nCPU seconds per 1000 generated tokens, the gateway's process / the engine's (llama.cpp in-process counts as the gateway's):`,
);
console.log(
  `| model | concurrency | llama-server | ${engines.map((engine) => `medgate ${label(engine)}`).join(" | ")} |`,
);
console.log(`| ${Array.from({ length: 3 + engines.length }, () => "---").join(" | ")} |`);
for (const row of rows) {
  const cpu = (side: Side) => {
    const per = (ms: number) => ((ms / side.tokens) * 1000) / 1000;
    return `${per(side.gatewayCpuMs).toFixed(2)} / ${per(side.engineCpuMs).toFixed(2)}`;
  };
  const name = row.model.split("/").at(-1);
  console.log(
    `| ${[name, row.concurrency, cpu(row.sides.get("llama")!), ...engines.map((engine) => cpu(row.sides.get(engine)!))].join(" | ")} |`,
  );
}

/**
 * CPU milliseconds (user + system) of process `pid` and of all its descendants, from /proc (Linux; the
 * clock tick is taken as 100 Hz, as on every Linux build medgate runs on).
 */
function treeCpuMs(pid: number): { own: number; descendants: number } {
  const stats = new Map<number, { ppid: number; ms: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/u.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) in parentheses.
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), {
        ppid: Number(fields[1]),
        ms: (Number(fields[11]) + Number(fields[12])) * 10,
      });
    } catch {
      // Exited meanwhile.
    }
  }
  let descendants = 0;
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.pop()!;
    for (const [child, stat] of stats) {
      if (stat.ppid !== parent) continue;
      descendants += stat.ms;
      queue.push(child);
    }
  }
  return { own: stats.get(pid)?.ms ?? 0, descendants };
}
