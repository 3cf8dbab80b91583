// npm run bench:gpu — serving and a round's training measured on this machine's GPU, on a random-weight model of
// Llama-3-8B's shape written here (no download): trainer/engine/bench_model.py builds the HF checkpoint, and the
// round's own converter (convert_gguf.py, the bundled llama.cpp's gguf-py) makes the GGUF.
//
// 1. Training, as a Med42-8B round trains (trainer/dpoEngine.ts's runSft and runDpo, the round config's defaults
//    with LoRA, bf16 on a GPU): the tuning (SFT) and DPO steps for --steps optimizer steps each, then the
//    conversion of the merged checkpoint to the round's GGUF type. Reported: seconds per step, trained tokens per
//    second, peak memory (torch.cuda.max_memory_allocated; on the CPU the process's peak RSS), the conversion's
//    seconds. DPO starts from the random checkpoint rather than the tuning step's, so that a 64 GB disk holds
//    the files (each step costs the same either way).
// 2. Serving that GGUF with llama-server directly (scripts/build-llama-server.sh: the CUDA build where nvcc and a
//    GPU are present), with `medgate serve --engine node-llama-cpp` (in-process; node-llama-cpp's prebuilt CUDA
//    binaries) and with `medgate serve --engine llama-server` (managed), one at a time: streamed tokens/s at
//    concurrency 1, 8 and 32, time to first token, and single-stream decode tokens/s (requests of 256 tokens
//    against the same of 1 token, one at a time) against the memory-bandwidth limit: bytes of weights a token reads ÷
//    the card's bandwidth (--bandwidth-gbs, else a table of known cards by nvidia-smi's name; on the CPU path a
//    one-thread copy measured here, where the small model fits the caches, so its share can pass 1).
//
// Without a GPU, or with --cpu, the same steps run on a small random model (256 wide, 4 layers) in float32, with
// a few steps: test/integration/benchGpu.test.ts runs that path so that it cannot rot.
//
// Prints markdown tables on stdout (progress on stderr) and, with --out FILE, writes the figures as JSON.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { defaultThreadCount } from "../inference/threadDefaults.ts";
import { convertToGguf, parseEngineLine, runDpo, runSft } from "../trainer/dpoEngine.ts";
import { llamaCppSourceDir } from "../trainer/llamaCppSource.ts";
import { engineDir, runEngineScript } from "../trainer/pythonEngine.ts";
import { parseRoundConfig, type RoundConfig } from "../trainer/roundConfig.ts";
import { benchBodies, percentile, runLoadClient, startServeProcess } from "./benchParts.ts";
import { cardBandwidthGBs, copyBandwidthGBs, cpuName, nvidiaGpu } from "./gpuMachine.ts";
import { startLlamaServer } from "./llamaServer.ts";

const { values } = parseArgs({
  options: {
    /** The small model on the CPU, even where a GPU is present. */
    cpu: { type: "boolean", default: false },
    /** Requests per concurrency level (at least the concurrency). Default: 32 on a GPU, 8 on the CPU */
    requests: { type: "string" },
    /** Optimizer steps of each training step. Default: 20 on a GPU, 2 on the CPU */
    steps: { type: "string" },
    /** Generated tokens per request. Default: 128 on a GPU, 8 on the CPU */
    "max-tokens": { type: "string" },
    /** Seconds for the whole benchmark; past it, what was measured is printed and written, and it exits 124. */
    timeout: { type: "string", default: "3600" },
    /** Write the figures as JSON to this file. */
    out: { type: "string" },
    /** The GPU's memory bandwidth in GB/s, for a card the table does not know. */
    "bandwidth-gbs": { type: "string" },
    /** Which parts: train, serve (serve alone converts the random checkpoint itself). */
    parts: { type: "string", default: "train,serve" },
    /** Keep the files here (default: a temporary folder, removed at the end); a checkpoint found there is reused. */
    work: { type: "string" },
  },
});

type ServingRow = {
  engine: string;
  concurrency: number;
  requests: number;
  tokensPerSecond: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  failures: number;
};
type DecodeRow = {
  engine: string;
  tokensPerSecond: number;
  limitTokensPerSecond: number;
  shareOfLimit: number;
};
type TrainingRow = {
  step: "sft" | "dpo";
  steps: number;
  secondsPerStep: number;
  tokensPerSecond: number;
  tokens: number;
  peakMemoryBytes: number;
  peakMemoryOf: string;
  trainSeconds: number;
  saveSeconds: number;
  wallSeconds: number;
};
type Results = {
  device: { kind: "gpu" | "cpu"; name: string; memoryMiB?: number };
  bandwidth?: { gbs: number; source: string };
  model: {
    shape: string;
    parameters?: number;
    checkpointBytes?: number;
    checkpointSeconds?: number;
    gguf?: { path: string; type: string; bytes: number; bytesPerToken: number };
  };
  settings: { requests: number; steps: number; maxTokens: number; parallel: number; threads: number };
  training: TrainingRow[];
  conversion?: { of: string; outtype: string; seconds: number; bytes: number };
  serving: ServingRow[];
  decode: DecodeRow[];
  errors: string[];
  timedOut: boolean;
};

const gpu = values.cpu ? undefined : nvidiaGpu();
const onGpu = gpu !== undefined;
const shape = onGpu ? "llama3-8b" : "small";
const requests = Number(values.requests ?? (onGpu ? 32 : 8));
const steps = Number(values.steps ?? (onGpu ? 20 : 2));
const maxTokens = Number(values["max-tokens"] ?? (onGpu ? 128 : 8));
const timeoutS = Number(values.timeout);
const parts = new Set(values.parts.split(","));
for (const [name, value] of Object.entries({ requests, steps, "max-tokens": maxTokens, timeout: timeoutS }))
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive whole number`);
for (const part of parts)
  if (part !== "train" && part !== "serve") throw new Error("--parts takes train and/or serve");
const cores = availableParallelism();
// Slots enough for the highest concurrency on a GPU; a few on the CPU, where the rest queue.
const parallel = onGpu ? 32 : 8;
const contextPerSlot = onGpu ? 1024 : 256;
const levels = [1, 8, 32];
// The single-stream decode probe: requests of this many tokens against requests of one. On the CPU the small model
// decodes thousands of tokens a second, so it takes more and longer requests to rise above the noise.
const decodeTokens = onGpu ? 256 : 192;
const decodeRequests = onGpu ? 4 : 8;

const results: Results = {
  device: gpu ? { kind: "gpu", ...gpu } : { kind: "cpu", name: `${cpuName()} (${cores} cores)` },
  model: { shape },
  settings: { requests, steps, maxTokens, parallel, threads: 0 },
  training: [],
  serving: [],
  decode: [],
  errors: [],
  timedOut: false,
};

const deadline = new AbortController();
const live = new Set<{ kill(signal?: NodeJS.Signals): boolean }>();
const softTimer = setTimeout(() => {
  results.timedOut = true;
  deadline.abort(new Error(`--timeout ${timeoutS}s reached`));
}, timeoutS * 1000);
// A load or a start that hangs past the deadline: report what was measured, end the servers, exit.
const hardTimer = setTimeout(
  () => {
    console.error("bench:gpu: still running 60 s past --timeout; stopping the servers and exiting");
    for (const child of live) child.kill("SIGKILL");
    void report().finally(() => process.exit(124));
  },
  timeoutS * 1000 + 60_000,
);
hardTimer.unref();

const log = (message: string) => console.error(`bench:gpu: ${message}`);
const work = values.work ? resolve(values.work) : await mkdtemp(join(tmpdir(), "medgate-bench-gpu-"));
await mkdir(work, { recursive: true });
log(
  `${onGpu ? `GPU path on ${gpu.name} (${gpu.memoryMiB} MiB)` : `CPU path (${values.cpu ? "--cpu" : "no NVIDIA GPU found"})`}: ${shape} model in ${work}`,
);
const config = roundConfig();

try {
  await llamaCppSourceDir(); // the converter and gguf-py, extracted from node-llama-cpp's bundle once
  const hfDir = join(work, "hf");
  await randomCheckpoint(hfDir);
  let gguf: string | undefined;
  if (parts.has("train")) gguf = await train(hfDir);
  if (parts.has("serve")) {
    deadline.signal.throwIfAborted();
    if (!gguf) {
      log("converting the random checkpoint for serving");
      gguf = (await timedConversion(hfDir, join(work, "base.gguf"), "base checkpoint")).path;
    }
    await serve(gguf);
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  results.errors.push(message);
  console.error(`bench:gpu: ${message}`);
} finally {
  clearTimeout(softTimer);
  clearTimeout(hardTimer);
  for (const child of live) child.kill("SIGKILL");
  if (!values.work) await rm(work, { recursive: true, force: true });
}
await report();
process.exitCode = results.timedOut ? 124 : results.errors.length > 0 ? 1 : 0;

/**
 * The round's settings: the defaults a Med42-8B round trains with (LoRA on every projection, bf16 on CUDA), each
 * step stopped after --steps; on the CPU path short sequences and this machine's threads.
 */
function roundConfig(): RoundConfig {
  const cpu = onGpu
    ? {}
    : { batchSize: 2, gradientAccumulationSteps: 1, maxLength: 256, threads: Math.max(1, cores - 1) };
  return parseRoundConfig({
    sft: { enabled: true, maxSteps: steps, ...(onGpu ? {} : { batchSize: 2, maxLength: 256 }) },
    dpo: { maxSteps: steps, ...cpu },
  });
}

async function randomCheckpoint(hfDir: string): Promise<void> {
  const existing = await stat(join(hfDir, "config.json")).catch(() => undefined);
  if (existing) {
    log(`reusing the checkpoint in ${hfDir}`);
    return;
  }
  log(`writing a random ${shape} checkpoint`);
  const started = performance.now();
  await runEngineScript("bench_model.py", ["checkpoint", "--out", hfDir, "--shape", shape], {
    signal: deadline.signal,
    onStdoutLine: (line) => {
      const event = parseEngineLine(line) as
        | { kind?: string; parameters?: number; bytes?: number }
        | undefined;
      if (event?.kind !== "checkpoint") return;
      results.model.parameters = event.parameters;
      results.model.checkpointBytes = event.bytes;
    },
  });
  results.model.checkpointSeconds = seconds(started);
  log(`checkpoint written in ${results.model.checkpointSeconds.toFixed(1)} s`);
}

/** Conversations of several turns from the engine's medical corpus: corrections for SFT, pairs for DPO. */
async function trainingData(): Promise<string> {
  const corpus = readFileSync(join(engineDir, "fixtures", "medical_qa.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { q: string; a: string });
  // Earlier turns make prompts of a few hundred tokens on the GPU path, as a clinic's conversations run.
  const history = onGpu ? 3 : 1;
  const lines = corpus.map((item, index) => {
    const turns = Array.from({ length: history }, (_, back) => corpus[(index + back + 1) % corpus.length]!);
    const conversation = [
      ...turns.flatMap((turn) => [
        { role: "user", content: turn.q },
        { role: "assistant", content: turn.a },
      ]),
      { role: "user", content: item.q },
    ];
    const rejected = corpus[(index + corpus.length - 1) % corpus.length]!.a;
    return JSON.stringify({
      conversation,
      chosen: item.a,
      rejected,
      source: "clinician-correction",
      split: "train",
    });
  });
  const path = join(work, "train.jsonl");
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

/** The tuning and DPO steps, then the conversion of DPO's merged checkpoint; returns the GGUF. */
async function train(hfDir: string): Promise<string | undefined> {
  const dataset = await trainingData();
  for (const step of ["sft", "dpo"] as const) {
    deadline.signal.throwIfAborted();
    log(`training: ${step}, ${steps} steps`);
    const outputDir = join(work, step);
    let tokens = 0;
    const started = performance.now();
    const options = {
      modelDir: hfDir,
      datasetPath: dataset,
      outputDir,
      sft: config.sft,
      dpo: config.dpo,
      signal: deadline.signal,
      onMetrics: async (metrics: { values: Record<string, number> }) => {
        tokens = metrics.values.num_tokens ?? tokens;
      },
    };
    let run: Awaited<ReturnType<typeof runDpo>>;
    try {
      run = step === "sft" ? await runSft(options) : await runDpo(options);
    } catch (error) {
      if (deadline.signal.aborted) throw error;
      results.errors.push(`${step}: ${error instanceof Error ? error.message : String(error)}`);
      console.error(`bench:gpu: ${step} failed: ${error}`);
      continue;
    }
    const summary = run.summary as {
      metrics?: Record<string, number>;
      steps?: number;
      seconds?: number;
      save_seconds?: number;
      peak_memory_bytes?: number;
      peak_memory_of?: string;
    };
    const trainSeconds = summary.metrics?.train_runtime ?? Number.NaN;
    const done = summary.steps ?? steps;
    results.training.push({
      step,
      steps: done,
      secondsPerStep: trainSeconds / done,
      tokensPerSecond: tokens / trainSeconds,
      tokens,
      peakMemoryBytes: summary.peak_memory_bytes ?? Number.NaN,
      peakMemoryOf: summary.peak_memory_of ?? "unknown",
      trainSeconds,
      saveSeconds: summary.save_seconds ?? Number.NaN,
      wallSeconds: seconds(started),
    });
    log(`${step}: ${done} steps in ${trainSeconds.toFixed(1)} s, ${tokens} tokens`);
    if (step === "sft") {
      // Its merged checkpoint (as large as the model) is not needed again.
      await rm(run.checkpointDir, { recursive: true, force: true });
      continue;
    }
    const converted = await timedConversion(
      run.checkpointDir,
      join(work, "round.gguf"),
      "DPO's merged checkpoint",
    );
    await rm(run.checkpointDir, { recursive: true, force: true });
    return converted.path;
  }
  return undefined;
}

async function timedConversion(hfDir: string, outfile: string, of: string) {
  const started = performance.now();
  const converted = await convertToGguf({
    hfDir,
    outfile,
    outtype: config.ggufType,
    modelName: `bench-${shape}`,
    signal: deadline.signal,
  });
  results.conversion = { of, outtype: config.ggufType, seconds: seconds(started), bytes: converted.bytes };
  log(`converted ${of} to ${config.ggufType} in ${results.conversion.seconds.toFixed(1)} s`);
  return converted;
}

async function serve(gguf: string): Promise<void> {
  let weights: { bytes?: number; bytes_per_token?: number } = {};
  await runEngineScript("bench_model.py", ["weights", gguf], {
    signal: deadline.signal,
    onStdoutLine: (line) => {
      const event = parseEngineLine(line) as { event: string } | undefined;
      if (event?.event === "weights") weights = event as typeof weights;
    },
  });
  const bytesPerToken = weights.bytes_per_token ?? Number.NaN;
  results.model.gguf = { path: gguf, type: config.ggufType, bytes: weights.bytes ?? 0, bytesPerToken };
  results.bandwidth = bandwidth();
  const size = (await stat(gguf)).size;
  const threads = onGpu ? Math.min(8, cores) : defaultThreadCount(size, cores);
  results.settings.threads = threads;
  const scratch = join(work, "serve");
  const medgateArgs = (engine: string) => [
    ...["--engine", engine, "--model", gguf, "--model-name", "bench", "--port", "0"],
    ...["--data-dir", join(scratch, `db-${engine}`), "--threads", String(threads)],
    ...["--parallel", String(parallel), "--context", String(contextPerSlot), "--queue", "256"],
    ...["--gpu", onGpu ? "auto" : "cpu"],
  ];
  const sides: { engine: string; start(): Promise<{ url: string; apiKey?: string } & AsyncDisposable> }[] = [
    {
      engine: "llama-server",
      start: async () => {
        const server = await startLlamaServer({
          modelPath: gguf,
          parallel,
          contextSize: contextPerSlot * parallel,
          threads,
          alias: "bench",
          extraArgs: ["-ngl", onGpu ? "999" : "0"],
        });
        live.add(server.process);
        return server;
      },
    },
    ...["node-llama-cpp", "llama-server"].map((engine) => ({
      engine: `medgate ${engine === "node-llama-cpp" ? "in-process" : "managed llama-server"}`,
      start: async () => {
        const medgate = await startServeProcess(medgateArgs(engine));
        live.add(medgate.child);
        return { url: medgate.url, apiKey: medgate.key, [Symbol.asyncDispose]: medgate[Symbol.asyncDispose] };
      },
    })),
  ];
  for (const side of sides) {
    deadline.signal.throwIfAborted();
    log(`serving with ${side.engine}`);
    try {
      await using server = await side.start();
      const load = (concurrency: number, count: number) =>
        runLoadClient({
          url: server.url,
          apiKey: server.apiKey,
          concurrency,
          bodies: benchBodies("bench", count, maxTokens),
          stream: true,
        });
      await load(2, 4); // warm-up
      for (const concurrency of levels) {
        deadline.signal.throwIfAborted();
        const count = Math.max(requests, concurrency);
        const result = await load(concurrency, count);
        for (const error of result.errors ?? []) console.error(`${side.engine}, c=${concurrency}: ${error}`);
        results.serving.push({
          engine: side.engine,
          concurrency,
          requests: count,
          tokensPerSecond: result.tokensPerSecond,
          ttftP50Ms: percentile(result.timeToFirstTokenMs, 0.5),
          ttftP99Ms: percentile(result.timeToFirstTokenMs, 0.99),
          failures: result.failures,
        });
        log(`${side.engine} c=${concurrency}: ${result.tokensPerSecond.toFixed(1)} tok/s`);
      }
      // One stream's decode: requests of `decodeTokens` against the same requests of 1 token, one at a time; the
      // extra tokens over the extra time leave out the prompt's processing and each request's overhead (the
      // time to the first printed text would not do: a random model's first tokens may print nothing).
      deadline.signal.throwIfAborted();
      const probe = async (tokens: number) => {
        const result = await runLoadClient({
          url: server.url,
          apiKey: server.apiKey,
          concurrency: 1,
          bodies: benchBodies("bench", decodeRequests, tokens),
        });
        if (result.failures > 0) throw new Error(`decode probe failed: ${result.errors?.[0]}`);
        return { tokens: result.completionTokens, ms: result.latenciesMs.reduce((sum, ms) => sum + ms, 0) };
      };
      const short = await probe(1);
      const long = await probe(decodeTokens);
      const tokensPerSecond = ((long.tokens - short.tokens) / (long.ms - short.ms)) * 1000;
      const limit = results.bandwidth ? (results.bandwidth.gbs * 1e9) / bytesPerToken : Number.NaN;
      results.decode.push({
        engine: side.engine,
        tokensPerSecond,
        limitTokensPerSecond: limit,
        shareOfLimit: tokensPerSecond / limit,
      });
      log(`${side.engine}: single-stream decode ${tokensPerSecond.toFixed(1)} tok/s`);
    } catch (error) {
      if (deadline.signal.aborted) throw error;
      results.errors.push(`${side.engine}: ${error instanceof Error ? error.message : String(error)}`);
      console.error(`bench:gpu: ${side.engine} failed: ${error}`);
    }
  }
}

/** The bandwidth the decode limit is computed from: --bandwidth-gbs, the card's from the table, or a measured copy. */
function bandwidth(): { gbs: number; source: string } | undefined {
  if (values["bandwidth-gbs"]) return { gbs: Number(values["bandwidth-gbs"]), source: "--bandwidth-gbs" };
  if (gpu) {
    const known = cardBandwidthGBs(gpu.name);
    if (known) return { gbs: known, source: `${gpu.name} (vendor's figure)` };
    log(`no bandwidth known for ${gpu.name}: give --bandwidth-gbs for the decode limit`);
    return undefined;
  }
  return { gbs: copyBandwidthGBs(), source: "one-thread copy measured here (bytes read + written)" };
}

function seconds(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}

async function report(): Promise<void> {
  const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "—");
  const size = (bytes: number) =>
    bytes >= 2 ** 30 ? `${f(bytes / 2 ** 30, 2)} GiB` : `${f(bytes / 2 ** 20, 1)} MiB`;
  const { device, model } = results;
  const parameters = model.parameters
    ? ` (${model.parameters >= 1e9 ? `${f(model.parameters / 1e9, 2)}B` : `${f(model.parameters / 1e6, 1)}M`} parameters)`
    : "";
  console.log(
    `\n${device.name}${device.memoryMiB ? `, ${device.memoryMiB} MiB` : ""}; model ${model.shape}${parameters}${model.gguf ? `, GGUF ${model.gguf.type} ${size(model.gguf.bytes)}, ${size(model.gguf.bytesPerToken)} read per token` : ""}`,
  );
  if (results.training.length > 0) {
    console.log(
      "\n| training step | steps | s/step | tokens/s | peak memory | train s | merge + save s | wall s |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const row of results.training)
      console.log(
        `| ${row.step} | ${row.steps} | ${f(row.secondsPerStep, 2)} | ${f(row.tokensPerSecond)} | ${size(row.peakMemoryBytes)} (${row.peakMemoryOf === "cuda" ? "GPU" : "RSS"}) | ${f(row.trainSeconds)} | ${f(row.saveSeconds)} | ${f(row.wallSeconds)} |`,
      );
  }
  if (results.conversion)
    console.log(
      `\nConversion of ${results.conversion.of} to GGUF ${results.conversion.outtype}: ${f(results.conversion.seconds)} s (${size(results.conversion.bytes)})`,
    );
  if (results.serving.length > 0) {
    console.log(
      `\n| engine | concurrency | requests | tok/s | TTFT p50 ms | TTFT p99 ms | failed |\n| --- | --- | --- | --- | --- | --- | --- |`,
    );
    for (const row of results.serving)
      console.log(
        `| ${row.engine} | ${row.concurrency} | ${row.requests} | ${f(row.tokensPerSecond)} | ${f(row.ttftP50Ms, 0)} | ${f(row.ttftP99Ms, 0)} | ${row.failures} |`,
      );
  }
  if (results.decode.length > 0) {
    console.log(
      `\nSingle-stream decode against the memory-bandwidth limit (${results.bandwidth ? `${f(results.bandwidth.gbs, 0)} GB/s, ${results.bandwidth.source}` : "no bandwidth known"}):`,
    );
    console.log("| engine | decode tok/s | limit tok/s | share of limit |\n| --- | --- | --- | --- |");
    for (const row of results.decode)
      console.log(
        `| ${row.engine} | ${f(row.tokensPerSecond)} | ${f(row.limitTokensPerSecond)} | ${f(row.shareOfLimit, 2)} |`,
      );
  }
  for (const error of results.errors) console.log(`\nFailed: ${error.split("\n")[0]}`);
  if (results.timedOut)
    console.log(`\nStopped at --timeout ${timeoutS} s: the figures above are what was measured.`);
  if (values.out) await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
}
