// lm-evaluation-harness as a test peer: the requests its own task objects build for benchmark files, with no
// model (lmeval_prompts.py in its venv). Running `lm_eval` against a gateway is loadtest/lmEvalHarness.ts.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lmEvalCommand, lmEvalVenvDir } from "../../loadtest/lmEvalHarness.ts";

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
  const child = execFile(join(lmEvalVenvDir, "bin", "python"), [script], {
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
