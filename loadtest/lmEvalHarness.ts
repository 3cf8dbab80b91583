// lm-evaluation-harness driven against a listening gateway: its venv (made by scripts/setup-lmeval.sh), a task
// YAML that includes lm-eval's own task over a local file, one `lm_eval run` of the `local-completions` model,
// and the results and logged samples it writes. Used by bench:lmeval and by the integration tests.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { McqItem } from "../trainer/eval/benchmarks/records.ts";

/** The venv scripts/setup-lmeval.sh makes. */
export const lmEvalVenvDir = fileURLToPath(new URL("../.medgate/lmeval-venv/", import.meta.url));
const lmEvalBin = join(lmEvalVenvDir, "bin", "lm_eval");

/** The task YAMLs lm-eval ships (`medmcqa/medmcqa.yaml`, `mmlu/default/mmlu_anatomy.yaml`...), to include. */
export function lmEvalTasksDir(): string {
  lmEvalCommand();
  return join(lmEvalVenvDir, "lib", "python3.11", "site-packages", "lm_eval", "tasks");
}

/** The lm_eval command of the venv; throws, never skips, where the venv is missing (setup failed or never ran). */
export function lmEvalCommand(): string {
  if (!existsSync(lmEvalBin) || !existsSync(join(lmEvalVenvDir, ".requirements.sha256"))) {
    throw new Error(
      `lm-evaluation-harness is not installed at ${lmEvalVenvDir}: run \`bash scripts/setup-lmeval.sh\` (scripts/test.sh does).`,
    );
  }
  return lmEvalBin;
}

/**
 * Writes `DIR/TASK.yaml`: lm-eval's own task (`include`, a YAML under lmEvalTasksDir()) over local JSON-lines
 * files (`files`: split name to path) instead of its Hugging Face dataset, which needs the network.
 */
export async function writeLmEvalTask(options: {
  dir: string;
  task: string;
  include: string;
  files: Record<string, string>;
  /** The split few-shot examples come from; default: the task's own. */
  fewshotSplit?: string;
  shots?: number;
}): Promise<void> {
  await writeFile(
    join(options.dir, `${options.task}.yaml`),
    [
      `include: ${JSON.stringify(join(lmEvalTasksDir(), options.include))}`,
      `task: ${options.task}`,
      "dataset_path: json",
      "dataset_name: null",
      `dataset_kwargs: ${JSON.stringify({ data_files: options.files })}`,
      ...(options.fewshotSplit === undefined ? [] : [`fewshot_split: ${options.fewshotSplit}`]),
      ...(options.shots === undefined ? [] : [`num_fewshot: ${options.shots}`]),
    ].join("\n"),
  );
}

/** A MedMCQA item as the Hugging Face dataset lm-eval's `medmcqa` task reads holds it (`cop` 0-based). */
export function medmcqaDoc(item: McqItem): Record<string, unknown> {
  return {
    id: item.id,
    question: item.question,
    opa: item.choices[0],
    opb: item.choices[1],
    opc: item.choices[2],
    opd: item.choices[3],
    cop: item.answer,
  };
}

/** One logged sample of a multiple-choice task: the doc, each choice's request and its (log-likelihood, greedy). */
export type LmEvalSample = {
  doc_id: number;
  doc: Record<string, unknown>;
  target: number;
  arguments: Record<string, { arg_0: string; arg_1: string }>;
  filtered_resps: [string, string][] | [number, boolean][];
  acc: number;
  acc_norm?: number;
};

export type LmEvalRun = {
  /** The results file's `results`: per task, `acc,none`, `acc_norm,none`, ... */
  results: Record<string, Record<string, number | string>>;
  /** The results file's `n-samples` per task. */
  samples: Record<string, LmEvalSample[]>;
  /** The command line run, for reports. */
  argv: string[];
  wallSeconds: number;
};

/** A sample's per-choice log-likelihoods (logged as numbers, or as their text by some versions). */
export function loglikelihoods(sample: LmEvalSample): number[] {
  return sample.filtered_resps.map((response) => Number(response[0]));
}

/**
 * Runs lm-eval's `local-completions` on `tasks` (YAML files under `includePath`) against `baseUrl` (the server
 * root): token-id prompts tokenized by the server's /tokenize (`tokenizer_backend=remote`), one request at a
 * time, no retries, every sample logged to `outputPath`.
 */
export async function runLmEval(options: {
  baseUrl: string;
  model: string;
  apiKey: string;
  tasks: string[];
  includePath: string;
  outputPath: string;
  /** Context window lm-eval assumes (it keeps one token for generation). */
  maxLength: number;
  /** lm-eval's --limit: the first N documents of each task. */
  limit?: number;
  env?: Record<string, string>;
  /** Milliseconds before lm_eval is killed. Default: 240 s */
  timeoutMs?: number;
  /** Run it under GNU time (/usr/bin/time) for its CPU seconds, `cpuSeconds`. Default: false */
  cpuTime?: boolean;
}): Promise<LmEvalRun & { cpuSeconds?: number }> {
  const modelArgs = [
    `model=${options.model}`,
    `base_url=${options.baseUrl}/v1/completions`,
    "tokenizer_backend=remote",
    "tokenized_requests=True",
    "num_concurrent=1",
    "max_retries=1",
    `max_length=${options.maxLength}`,
    // The remote tokenizer sends this key; the completions requests send OPENAI_API_KEY.
    `auth_token=${options.apiKey}`,
  ].join(",");
  const argv = [
    "run",
    "--model",
    "local-completions",
    "--model_args",
    modelArgs,
    "--tasks",
    options.tasks.join(","),
    "--include_path",
    options.includePath,
    "--output_path",
    options.outputPath,
    "--log_samples",
    ...(options.limit === undefined ? [] : ["--limit", String(options.limit)]),
  ];
  const [command, ...args] = options.cpuTime
    ? ["/usr/bin/time", "-f", "lm_eval cpu %U %S", lmEvalCommand(), ...argv]
    : [lmEvalCommand(), ...argv];
  const started = performance.now();
  const { stderr } = await promisify(execFile)(command!, args, {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      OPENAI_API_KEY: options.apiKey,
      PYTHONUTF8: "1",
      // Everything is local: no hub look-ups, and no network wait where there is none.
      HF_HUB_OFFLINE: "1",
      HF_DATASETS_OFFLINE: "1",
      ...options.env,
    },
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs ?? 240_000,
  }).catch((error: Error & { stderr?: string }) => {
    throw new Error(
      `lm_eval ${argv.join(" ")} failed: ${error.message}\n${(error.stderr ?? "").slice(-8000)}`,
    );
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = /^lm_eval cpu (\S+) (\S+)$/mu.exec(stderr);
  if (options.cpuTime && !cpu) throw new Error(`/usr/bin/time printed no CPU times:\n${stderr.slice(-2000)}`);
  const cpuSeconds = cpu ? Number(cpu[1]) + Number(cpu[2]) : undefined;

  const files = await filesUnder(options.outputPath);
  const resultsFile = files.find((file) => /\/results_[^/]*\.json$/u.test(file));
  if (!resultsFile) throw new Error(`lm_eval wrote no results file under ${options.outputPath}`);
  const { results } = JSON.parse(await readFile(resultsFile, "utf8")) as LmEvalRun;
  const samples: Record<string, LmEvalSample[]> = {};
  for (const task of options.tasks) {
    const file = files.find((path) => path.includes(`/samples_${task}_`) && path.endsWith(".jsonl"));
    if (!file) throw new Error(`lm_eval logged no samples of ${task} under ${options.outputPath}`);
    samples[task] = (await readFile(file, "utf8"))
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LmEvalSample);
  }
  return { results, samples, argv, wallSeconds, cpuSeconds };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}
