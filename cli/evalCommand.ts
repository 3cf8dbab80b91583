// `medgate eval run --model VERSION --suite medical`: scores a registered version on a benchmark suite.
import { findModelVersionByRef } from "../db/modelVersions.ts";
import { defaultSuitePath, runEvaluation } from "../trainer/eval/evalRun.ts";
import { ConfigError, type DatabaseConfig } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";
import { ProgressLine } from "./progress.ts";

export const evalUsage = `Usage: medgate eval run --model VERSION [--suite medical|FILE] [options]

Scores a registered model version on a benchmark suite the way lm-evaluation-harness does
(log-likelihood of each answer after a shared prompt; acc and acc_norm) and stores every
question's result. VERSION: a version id, NAME (its champion) or NAME@vN.

Options:
  --model VERSION     The version to score
  --suite S           "medical" (MedMCQA dev + MMLU medical subjects) or a suite JSON file  default: medical
  --limit N           Most questions per benchmark  default: all
  --shots K           Solved examples before each question  default: 0
  --chat              Put the prompt through the model's chat template (answer without a leading space)
  --continuation C    letter | text: score answer letters (lm-eval's tasks) or answer texts  default: letter
  --threads N         llama.cpp threads  default: 1 for models under 64 MB, else all cores
  --parallel N        Questions scored at once  default: 4
  --database-url URL  [DATABASE_URL]   --data-dir DIR  [MEDGATE_DATA_DIR]`;

function positive(name: string, text: string | undefined, min = 1): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(`--${name} must be an integer ≥ ${min}.`);
  return value;
}

export async function evalCommand(
  action: string | undefined,
  args: {
    model?: string;
    suite?: string;
    limit?: string;
    shots?: string;
    chat?: boolean;
    continuation?: string;
    threads?: string;
    parallel?: string;
  },
  config: DatabaseConfig,
): Promise<void> {
  if (action !== "run" || !args.model) throw new ConfigError(evalUsage);
  if (args.continuation !== undefined && !["letter", "text"].includes(args.continuation)) {
    throw new ConfigError("--continuation must be letter or text.");
  }
  const suitePath = !args.suite || args.suite === "medical" ? defaultSuitePath : args.suite;
  const ref = args.model;
  const progress = new ProgressLine();
  const run = await withDatabase(config, async (db) => {
    const version = await findModelVersionByRef(db, ref);
    if (!version) throw new ConfigError(`No model version "${ref}" (see \`medgate models list\`).`);
    console.error(`medgate: scoring ${version.name} v${version.version} on ${suitePath}…`);
    return runEvaluation(db, {
      version,
      suitePath,
      settings: {
        limit: positive("limit", args.limit),
        shots: positive("shots", args.shots, 0) ?? 0,
        format: args.chat ? "chat" : "plain",
        continuation: (args.continuation as "letter" | "text" | undefined) ?? "letter",
      },
      engine: {
        threads: positive("threads", args.threads),
        parallel: positive("parallel", args.parallel) ?? 4,
      },
      onProgress: ({ done, total }) => progress.update("scoring", done, total),
    });
  });
  progress.end();
  const summary = run.summary as {
    benchmarks: Record<string, { n: number; acc: number; accNorm: number }>;
    pooled: { n: number; acc: number; accNorm: number };
  };
  console.log(["benchmark", "n", "acc", "acc_norm"].join("\t"));
  for (const [name, row] of Object.entries(summary.benchmarks)) {
    console.log([name, row.n, row.acc.toFixed(4), row.accNorm.toFixed(4)].join("\t"));
  }
  console.log(
    ["pooled", summary.pooled.n, summary.pooled.acc.toFixed(4), summary.pooled.accNorm.toFixed(4)].join("\t"),
  );
  console.error(`medgate: eval run ${run.id} stored.`);
}
