// Driving the Python engine's training (dpo.py, sft.py) and GGUF conversion (convert_gguf.py) over its JSON-lines
// protocol.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EngineScriptError, engineDir, enginePython, runEngineScript } from "./pythonEngine.ts";
import type { RoundConfig } from "./roundConfig.ts";

export type TrainingMetrics = { step: number; epoch: number | null; values: Record<string, number> };

export type EngineEvent =
  | { event: "started"; pairs?: number; steps_planned?: number }
  | { event: "metrics"; step: number; epoch?: number | null; metrics: Record<string, number> }
  | { event: "summary"; [key: string]: unknown }
  | { event: "artifact"; kind: string; path: string; sha256?: string; bytes?: number }
  | { event: "done"; [key: string]: unknown };

/** Parses one stdout line of the engine; other lines (there should be none) are ignored. */
export function parseEngineLine(line: string): EngineEvent | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const parsed = JSON.parse(trimmed) as { event?: unknown };
    return typeof parsed.event === "string" ? (parsed as EngineEvent) : undefined;
  } catch {
    return undefined;
  }
}

export type DpoRun = {
  /** The merged Hugging Face checkpoint. */
  checkpointDir: string;
  summary: Record<string, unknown>;
};

/**
 * Trains with TRL's DPOTrainer from `modelDir` (also the reference) on the dataset's `train` pairs, writing
 * the merged checkpoint under `outputDir`. `onMetrics` is awaited for each logged step, in order.
 */
export async function runDpo(options: {
  modelDir: string;
  datasetPath: string;
  outputDir: string;
  dpo: RoundConfig["dpo"];
  onMetrics: (metrics: TrainingMetrics) => Promise<void>;
  onStarted?: (info: { pairs?: number; stepsPlanned?: number }) => void;
  signal?: AbortSignal;
}): Promise<DpoRun> {
  return runTrainingScript("dpo.py", dpoEngineConfig(options), {
    ...options,
    accelerateConfig: options.dpo.accelerateConfig,
  });
}

/**
 * Fine-tunes with TRL's SFTTrainer from `modelDir` on the dataset's training corrections (loss on the answer's
 * tokens only), writing the merged checkpoint under `outputDir`; LoRA and the device settings are DPO's.
 */
export async function runSft(options: {
  modelDir: string;
  datasetPath: string;
  outputDir: string;
  sft: RoundConfig["sft"];
  dpo: RoundConfig["dpo"];
  onMetrics: (metrics: TrainingMetrics) => Promise<void>;
  onStarted?: (info: { pairs?: number; stepsPlanned?: number }) => void;
  signal?: AbortSignal;
}): Promise<DpoRun> {
  const { sft, dpo } = options;
  const { beta: _, loss_type: __, ...shared } = dpoEngineConfig(options);
  const config = {
    ...shared,
    learning_rate: sft.learningRate,
    epochs: sft.epochs,
    max_steps: sft.maxSteps,
    batch_size: sft.batchSize,
    gradient_accumulation_steps: sft.gradientAccumulationSteps,
    max_length: sft.maxLength,
    warmup_ratio: sft.warmupRatio,
    packing: sft.packing,
    seed: dpo.seed,
  };
  return runTrainingScript("sft.py", config, { ...options, accelerateConfig: dpo.accelerateConfig });
}

/** Runs a training script of the engine (dpo.py, sft.py) on its config, over the JSON-lines protocol. */
async function runTrainingScript(
  script: "dpo.py" | "sft.py",
  engineConfig: Record<string, unknown>,
  options: {
    outputDir: string;
    accelerateConfig?: string;
    onMetrics: (metrics: TrainingMetrics) => Promise<void>;
    onStarted?: (info: { pairs?: number; stepsPlanned?: number }) => void;
    signal?: AbortSignal;
  },
): Promise<DpoRun> {
  await mkdir(options.outputDir, { recursive: true });
  const configPath = join(options.outputDir, `${script.replace(/\.py$/u, "")}-config.json`);
  await writeFile(configPath, `${JSON.stringify(engineConfig, null, 2)}\n`);
  let checkpointDir: string | undefined;
  let summary: Record<string, unknown> = {};
  // Metrics are stored one after another, in step order, while training goes on.
  let stored = Promise.resolve();
  let storeError: unknown;
  const onLine = (line: string) => {
    const event = parseEngineLine(line);
    if (!event) return;
    if (event.event === "started")
      options.onStarted?.({ pairs: event.pairs, stepsPlanned: event.steps_planned });
    else if (event.event === "metrics") {
      const metrics = { step: event.step, epoch: event.epoch ?? null, values: numericOnly(event.metrics) };
      stored = stored
        .then(() => options.onMetrics(metrics))
        .catch((error: unknown) => {
          storeError ??= error;
        });
    } else if (event.event === "artifact" && event.kind === "checkpoint") checkpointDir = event.path;
    else if (event.event === "artifact" && event.kind === "adapter")
      summary = { ...summary, adapterDir: event.path };
    else if (event.event === "summary" || event.event === "done")
      summary = { ...summary, ...withoutEvent(event) };
  };
  if (options.accelerateConfig) {
    await runAccelerate(script, options.accelerateConfig, configPath, onLine, options.signal);
  } else {
    await runEngineScript(script, [configPath], { signal: options.signal, onStdoutLine: onLine });
  }
  await stored;
  if (storeError) throw storeError;
  if (!checkpointDir)
    throw new Error(`The ${script} engine finished without reporting its merged checkpoint.`);
  return { checkpointDir, summary };
}

/** Every field dpo.py reads, resolved here: the engine keeps no defaults of its own. */
export type DpoEngineConfig = {
  model_dir: string;
  train_file: string;
  output_dir: string;
  beta: number;
  learning_rate: number;
  epochs: number;
  max_steps: number | null;
  batch_size: number;
  gradient_accumulation_steps: number;
  max_length: number;
  warmup_ratio: number;
  seed: number;
  loss_type: string[];
  lr_scheduler_type: string;
  logging_steps: number;
  gradient_checkpointing: boolean;
  full_determinism: boolean;
  use_cpu: boolean | null;
  bf16: boolean | null;
  save_dtype: string;
  threads: number | null;
  lora: { r: number; alpha: number; dropout: number; target_modules: string[] } | null;
};

export function dpoEngineConfig(options: {
  modelDir: string;
  datasetPath: string;
  outputDir: string;
  dpo: RoundConfig["dpo"];
}): DpoEngineConfig {
  const { dpo } = options;
  return {
    model_dir: resolve(options.modelDir),
    train_file: resolve(options.datasetPath),
    output_dir: resolve(options.outputDir),
    beta: dpo.beta,
    learning_rate: dpo.learningRate,
    epochs: dpo.epochs,
    max_steps: dpo.maxSteps,
    batch_size: dpo.batchSize,
    gradient_accumulation_steps: dpo.gradientAccumulationSteps,
    max_length: dpo.maxLength,
    warmup_ratio: dpo.warmupRatio,
    seed: dpo.seed,
    loss_type: dpo.lossType,
    lr_scheduler_type: dpo.lrSchedulerType,
    logging_steps: dpo.loggingSteps,
    gradient_checkpointing: dpo.gradientCheckpointing,
    full_determinism: dpo.fullDeterminism,
    use_cpu: dpo.useCpu,
    bf16: dpo.bf16,
    save_dtype: dpo.saveDtype,
    threads: dpo.threads,
    lora: dpo.lora && {
      r: dpo.lora.r,
      alpha: dpo.lora.alpha,
      dropout: dpo.lora.dropout,
      target_modules: dpo.lora.targetModules,
    },
  };
}

/** Converts a Hugging Face checkpoint to GGUF with the llama.cpp converter bundled in node-llama-cpp. */
export async function convertToGguf(options: {
  hfDir: string;
  outfile: string;
  outtype: RoundConfig["ggufType"];
  /** The name written into the GGUF's metadata. */
  modelName: string;
  signal?: AbortSignal;
}): Promise<{ path: string; sha256: string; bytes: number }> {
  let artifact: { path: string; sha256: string; bytes: number } | undefined;
  await runEngineScript(
    "convert_gguf.py",
    [
      "--hf-dir",
      resolve(options.hfDir),
      "--outfile",
      resolve(options.outfile),
      "--outtype",
      options.outtype,
      "--model-name",
      options.modelName,
    ],
    {
      signal: options.signal,
      onStdoutLine: (line) => {
        const event = parseEngineLine(line);
        if (event?.event === "artifact" && event.kind === "gguf" && event.sha256) {
          artifact = { path: event.path, sha256: event.sha256, bytes: event.bytes ?? 0 };
        }
      },
    },
  );
  if (!artifact) throw new Error("The converter finished without reporting its GGUF.");
  return artifact;
}

function numericOnly(values: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, number] => typeof entry[1] === "number"),
  );
}

function withoutEvent(event: Record<string, unknown>): Record<string, unknown> {
  const { event: _, ...rest } = event;
  return rest;
}

/** `accelerate launch --config_file CONFIG SCRIPT SCRIPT_CONFIG` from the engine's venv, for multi-GPU runs. */
async function runAccelerate(
  script: string,
  accelerateConfig: string,
  configPath: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const python = enginePython();
  await new Promise<void>((done, fail) => {
    const child = spawn(
      python,
      ["-m", "accelerate.commands.launch", "--config_file", resolve(accelerateConfig), script, configPath],
      { cwd: engineDir, stdio: ["ignore", "pipe", "pipe"], signal },
    );
    let pending = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-64 * 1024);
    });
    child.on("error", fail);
    child.on("close", (code, exitSignal) => {
      if (pending) onLine(pending);
      if (code === 0) done();
      else
        fail(
          new EngineScriptError(
            `accelerate launch ${script}`,
            code,
            exitSignal,
            stderr.slice(-4000).trimEnd(),
          ),
        );
    });
  });
}
