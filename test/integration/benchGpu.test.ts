// `npm run bench:gpu`'s CPU path, run as a user runs it (`--cpu`, a few steps and requests): the small random
// model is written, tuned and DPO-trained through the trainer engine's own entry points, converted to GGUF, and
// served by llama-server, medgate in-process and medgate's managed llama-server. Every row of its JSON and its
// tables must hold positive figures, so the GPU benchmark cannot rot on machines without a GPU.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { llamaServerBinary } from "../../loadtest/llamaServer.ts";

const engines = ["llama-server", "medgate in-process", "medgate managed llama-server"];
let scratch: string;

beforeAll(async () => {
  await llamaServerBinary(); // built once per machine (scripts/build-llama-server.sh)
  scratch = await mkdtemp(join(tmpdir(), "medgate-bench-gpu-test-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

it("trains, converts and serves the small random model, with positive figures in every row", async () => {
  const out = join(scratch, "bench-gpu.json");
  const args = ["--cpu", "--steps", "2", "--requests", "4", "--max-tokens", "4", "--timeout", "240"];
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["node_modules/tsx/dist/cli.mjs", "loadtest/bench-gpu.ts", ...args, "--out", out],
    { maxBuffer: 1 << 24, timeout: 290_000 },
  );
  const results = JSON.parse(await readFile(out, "utf8"));
  expect(results.errors).toEqual([]);
  expect(results.timedOut).toBe(false);
  expect(results.device.kind).toBe("cpu");
  expect(results.model).toMatchObject({ shape: "small", gguf: { type: "q8_0" } });
  expect(results.model.parameters).toBeGreaterThan(1e6);
  expect(results.model.gguf.bytesPerToken).toBeGreaterThan(0);
  expect(results.model.gguf.bytesPerToken).toBeLessThan(results.model.gguf.bytes);

  expect(results.training.map((row: { step: string }) => row.step)).toEqual(["sft", "dpo"]);
  for (const row of results.training) {
    expect(row.steps).toBe(2);
    expect(row.peakMemoryOf).toBe("rss");
    for (const field of ["secondsPerStep", "tokensPerSecond", "tokens", "peakMemoryBytes", "wallSeconds"])
      expect(row[field], `${row.step} ${field}`).toBeGreaterThan(0);
  }
  expect(results.conversion).toMatchObject({ of: "DPO's merged checkpoint", outtype: "q8_0" });
  expect(results.conversion.seconds).toBeGreaterThan(0);

  const served = results.serving.map((row: { engine: string; concurrency: number }) => [
    row.engine,
    row.concurrency,
  ]);
  expect(served).toEqual(engines.flatMap((engine) => [1, 8, 32].map((c) => [engine, c])));
  for (const row of results.serving) {
    const what = `${row.engine} c=${row.concurrency}`;
    expect(row.failures, what).toBe(0);
    expect(row.requests, what).toBe(Math.max(4, row.concurrency));
    expect(row.tokensPerSecond, what).toBeGreaterThan(0);
    expect(row.ttftP50Ms, what).toBeGreaterThan(0);
    expect(row.ttftP99Ms, what).toBeGreaterThanOrEqual(row.ttftP50Ms);
  }
  expect(results.decode.map((row: { engine: string }) => row.engine)).toEqual(engines);
  expect(results.bandwidth.gbs).toBeGreaterThan(0);
  for (const row of results.decode)
    for (const field of ["tokensPerSecond", "limitTokensPerSecond", "shareOfLimit"])
      expect(row[field], `${row.engine} ${field}`).toBeGreaterThan(0);

  // The tables: one row per training step, per engine and concurrency, and per engine's decode.
  const tableRows = stdout.split("\n").filter((line) => /^\| (sft|dpo|llama-server|medgate) /u.test(line));
  expect(tableRows).toHaveLength(2 + engines.length * 3 + engines.length);
  for (const line of tableRows) expect(line, line).not.toMatch(/—|NaN|Infinity/u);
}, 300_000);
