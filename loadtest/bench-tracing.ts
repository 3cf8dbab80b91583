// npm run bench:serve -- --tracing — the cost of tracing: two `medgate serve` processes on the same GGUF and
// settings, one exporting every trace (sampler always_on) by OTLP/HTTP to a receiver in this process, one with
// no OTLP endpoint, driven in turn by the same load client at concurrency 1 and 8. Prints on / off.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { startOtlpReceiver } from "../test/support/otlpReceiver.ts";
import type { LoadResult } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    tracing: { type: "boolean", default: true },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
  },
});
const run = promisify(execFile);
const bin = fileURLToPath(new URL("../bin/medgate.js", import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-tracing-"));
const receiver = await startOtlpReceiver();

type Server = { child: ChildProcess; url: string; key: string };

/** `medgate serve` in a child process; resolves once it prints its URL (the admin key comes on stderr first). */
async function serve(name: string, env: Record<string, string>): Promise<Server> {
  const args = [bin, "serve", "--model", values.model, "--model-name", "bench", "--port", "0"];
  args.push(
    "--data-dir",
    join(scratch, name),
    "--threads",
    values.threads,
    "--parallel",
    "8",
    "--context",
    "1024",
  );
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stderr = "";
  child.stderr!.on("data", (data) => (stderr += data));
  const [url] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), "line"),
    once(child, "exit").then(() => {
      throw new Error(`serve exited: ${stderr}`);
    }),
  ])) as [string];
  const key = /API key \(shown only now\): (\S+)/u.exec(stderr)?.[1];
  if (!key) throw new Error(`no admin key printed: ${stderr}`);
  return { child, url, key };
}

const traced = await serve("on", {
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_TRACES_SAMPLER: "always_on",
  OTEL_SERVICE_NAME: "medgate-bench",
});
const plain = await serve("off", { OTEL_EXPORTER_OTLP_ENDPOINT: "" });

const questions = [
  "What are the first-line treatments for community-acquired pneumonia?",
  "Explain the difference between type 1 and type 2 diabetes.",
  "What are warning signs of a stroke?",
  "How is iron-deficiency anaemia diagnosed?",
];
const bodies = (requests: number) =>
  Array.from({ length: requests }, (_, index) => ({
    model: "bench",
    messages: [{ role: "user", content: questions[index % questions.length]! }],
    max_tokens: Number(values["max-tokens"]),
    temperature: 0.7,
    seed: index,
  }));

async function load(server: Server, concurrency: number, requests: number): Promise<LoadResult> {
  const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
  const client = fileURLToPath(new URL("./loadClient.ts", import.meta.url));
  const args = ["--url", server.url, "--concurrency", String(concurrency), "--requests", String(requests)];
  args.push("--bodies", JSON.stringify(bodies(requests)), "--api-key", server.key);
  const { stdout } = await run("nice", ["-n", "10", process.execPath, tsx, client, ...args]);
  return JSON.parse(stdout) as LoadResult;
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const rows: { concurrency: number; on: number[]; off: number[] }[] = [];
try {
  await load(traced, 2, 4); // warm-up
  await load(plain, 2, 4);
  for (const { concurrency, requests } of [
    { concurrency: 1, requests: 8 },
    { concurrency: 8, requests: 32 },
  ]) {
    const row = { concurrency, on: [] as number[], off: [] as number[] };
    for (let round = 0; round < Number(values.rounds); round++) {
      // Alternate which side goes first, so that drift of the machine favours neither.
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const side of order) {
        const result = await load(side === "on" ? traced : plain, concurrency, requests);
        row[side].push(result.tokensPerSecond);
      }
    }
    rows.push(row);
  }
} finally {
  for (const server of [traced, plain]) {
    const exited = once(server.child, "exit");
    server.child.kill("SIGTERM");
    await exited;
  }
  await receiver[Symbol.asyncDispose]();
  await rm(scratch, { recursive: true, force: true });
}

console.error(
  `model ${values.model}, ${values.threads} thread(s), 8 sequences, max_tokens ${values["max-tokens"]}, ${values.rounds} rounds; the traced server exported ${receiver.spans.length} spans (${receiver.named("chat bench").length} chat spans)`,
);
console.log("| concurrency | tracing off tok/s | tracing on tok/s | on / off |");
console.log("| --- | --- | --- | --- |");
for (const row of rows) {
  const off = median(row.off);
  const on = median(row.on);
  console.log(`| ${row.concurrency} | ${off.toFixed(1)} | ${on.toFixed(1)} | ${(on / off).toFixed(3)}× |`);
}
