// lm-evaluation-harness as a test peer: its venv (made by scripts/setup-lmeval.sh), one `lm_eval run` of the
// `local-completions` model against a listening gateway, and the results and logged samples it writes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const venvDir = fileURLToPath(new URL("../../.medgate/lmeval-venv/", import.meta.url));
const lmEvalBin = join(venvDir, "bin", "lm_eval");

/** The task YAMLs lm-eval ships (`medmcqa/medmcqa.yaml`, `mmlu/default/mmlu_anatomy.yaml`...), to include. */
export function lmEvalTasksDir(): string {
  lmEvalCommand();
  return join(venvDir, "lib", "python3.11", "site-packages", "lm_eval", "tasks");
}

/** The lm_eval command of the venv; throws, never skips, where the venv is missing (setup failed or never ran). */
export function lmEvalCommand(): string {
  if (!existsSync(lmEvalBin) || !existsSync(join(venvDir, ".requirements.sha256"))) {
    throw new Error(
      `lm-evaluation-harness is not installed at ${venvDir}: run \`bash scripts/setup-lmeval.sh\` (scripts/test.sh does).`,
    );
  }
  return lmEvalBin;
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
}): Promise<LmEvalRun> {
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
  const started = performance.now();
  await promisify(execFile)(lmEvalCommand(), argv, {
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
    timeout: 240_000,
  }).catch((error: Error & { stderr?: string }) => {
    throw new Error(
      `lm_eval ${argv.join(" ")} failed: ${error.message}\n${(error.stderr ?? "").slice(-8000)}`,
    );
  });
  const wallSeconds = (performance.now() - started) / 1000;

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
  return { results, samples, argv, wallSeconds };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** One case for lmeval_prompts.py: an lm-eval task over a benchmark file in its release's layout. */
export type LmEvalPromptCase = {
  name: string;
  /** The lm-eval task whose YAML is included: medqa_4options, medmcqa, pubmedqa, mmlu_<subject>. */
  task: string;
  format: "medqa" | "medmcqa" | "pubmedqa" | "mmlu";
  file: string;
  /** The few-shot split's file; null: the file itself. */
  fewshot_file: string | null;
  subject?: string;
  shots: number;
  limit: number;
};

/** The requests lm-eval builds for one document, as lmeval_prompts.py reports them. */
export type LmEvalPrompt = {
  doc_id: number;
  context: string;
  /** Every distinct context of the document's requests (one for these tasks). */
  contexts: string[];
  continuations: string[];
  doc_to_text: string;
  description: string;
  answers: string[];
};

/** The requests lm-eval's own task objects build for `cases` (no model): test/support/lmeval_prompts.py. */
export async function lmEvalPrompts(
  dir: string,
  cases: LmEvalPromptCase[],
): Promise<{ version: string; cases: Record<string, LmEvalPrompt[]> }> {
  lmEvalCommand();
  const script = fileURLToPath(new URL("./lmeval_prompts.py", import.meta.url));
  const child = execFile(join(venvDir, "bin", "python"), [script], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      PYTHONUTF8: "1",
      HF_HUB_OFFLINE: "1",
      HF_DATASETS_OFFLINE: "1",
      HF_HOME: join(dir, "hf"),
    },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 240_000,
  });
  child.stdin!.end(JSON.stringify({ dir, cases }));
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`lmeval_prompts.py exited ${code}:\n${stderr.slice(-8000)}`);
  const parsed = JSON.parse(stdout) as { lm_eval: string; cases: Record<string, LmEvalPrompt[]> };
  return { version: parsed.lm_eval, cases: parsed.cases };
}
