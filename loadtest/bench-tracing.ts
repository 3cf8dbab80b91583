// npm run bench:serve -- --tracing — the cost of tracing: two `medgate serve` processes on the same GGUF and
// settings, one exporting every trace (sampler always_on) by OTLP/HTTP to a receiver in this process, one with
// no OTLP endpoint, driven in turn by the same load client at concurrency 1 and 8. Prints on / off.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startOtlpReceiver } from "../test/support/otlpReceiver.ts";
import { benchBodies, median, runLoadClient, type ServeProcess, startServeProcess } from "./benchParts.ts";

const { values } = parseArgs({
  options: {
    tracing: { type: "boolean", default: true },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
  },
});
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-tracing-"));
const receiver = await startOtlpReceiver();

const serve = (name: string, env: Record<string, string>) =>
  startServeProcess(
    [
      ...["--model", values.model, "--model-name", "bench", "--port", "0", "--data-dir", join(scratch, name)],
      ...["--threads", values.threads, "--parallel", "8", "--context", "1024"],
    ],
    env,
  );
const traced = await serve("on", {
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_TRACES_SAMPLER: "always_on",
  OTEL_SERVICE_NAME: "medgate-bench",
});
const plain = await serve("off", { OTEL_EXPORTER_OTLP_ENDPOINT: "" });

const load = (server: ServeProcess, concurrency: number, requests: number) =>
  runLoadClient({
    url: server.url,
    apiKey: server.key,
    concurrency,
    bodies: benchBodies("bench", requests, Number(values["max-tokens"])),
  });

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
  await traced[Symbol.asyncDispose]();
  await plain[Symbol.asyncDispose]();
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
