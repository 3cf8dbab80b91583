// `medgate eval run --model VERSION|FILE.gguf --suite medical`: scores a registered version, or a GGUF file as
// it is, on a benchmark suite; with `--scorer URL`, on an OpenAI-compatible server instead of here.
import { existsSync } from "node:fs";
import { z } from "zod";
import { findModelVersionByRef } from "../db/modelVersions.ts";
import {
  defaultSuitePath,
  type EvaluatedModel,
  evaluatedFile,
  evaluatedRemoteModel,
  evaluatedVersion,
  runEvaluation,
} from "../trainer/eval/evalRun.ts";
import { checkedSettings, protocols } from "../trainer/eval/protocols.ts";
import { RemoteScorer, remoteModelOf } from "../trainer/scoring/RemoteScorer.ts";
import { ScoringEndpoint } from "../trainer/scoring/ScoringEndpoint.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, databaseOptions, engineOptions, option, processEnvironment } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";
import { ProgressLine } from "./progress.ts";

const count = (min: number) => z.coerce.number().int().min(min);

export const evalCommand = defineCommand({
  usage: `Usage: medgate eval run --model VERSION|FILE.gguf [--suite medical|FILE] [options]
       medgate eval run --scorer URL --model VERSION|ID [options]

Scores a model on a benchmark suite the way lm-evaluation-harness does (log-likelihood of each answer
after a shared prompt; acc and acc_norm) and stores every question's result. VERSION: a version id,
NAME (its champion) or NAME@vN; a path to a .gguf file is scored as it is and stored as an
unregistered run with the file's sha256. With --scorer, the scoring runs on that OpenAI-compatible
server (medgate, vLLM, SGLang: /tokenize and /v1/completions with echo and logprobs): a version is
asked for as its upstream model or NAME@vN, anything else as the server's model id.`,
  options: z.object({
    model: option(z.string({ error: "eval run needs --model VERSION or a .gguf file" }).min(1), {
      help: "The version or GGUF file to score (with --scorer: a version or the server's model id)",
      value: "VERSION|FILE|ID",
      env: false,
    }),
    scorer: option(z.url({ protocol: /^https?$/u }).optional(), {
      help: "Score on this OpenAI-compatible server (base URL, with or without /v1) instead of here",
      value: "URL",
      defaultText: "none, the GGUF is loaded here",
      env: false,
    }),
    scorerKeyEnv: option(z.string().min(1).optional(), {
      help: "Environment variable holding the scorer's API key (sent as a Bearer token)",
      value: "VAR",
      defaultText: "none",
      env: false,
    }),
    suite: option(z.string().min(1).default("medical"), {
      help: '"medical" (MedMCQA dev + MMLU medical subjects) or a suite JSON file',
      value: "S",
      env: false,
    }),
    limit: option(count(1).optional(), {
      help: "Most questions per benchmark",
      value: "N",
      defaultText: "all",
      env: false,
    }),
    shots: option(count(0).default(0), {
      help: "Solved examples before each question",
      value: "K",
      env: false,
    }),
    protocol: option(z.enum(protocols).optional(), {
      help: "lm-eval (lm-evaluation-harness's own tasks) or med42 (zero-shot, chat template, answer texts)",
      value: "P",
      defaultText: "the suite's (lm-eval)",
      env: false,
    }),
    threads: engineOptions.threads,
    parallel: engineOptions.parallel,
    ...databaseOptions,
  }),
  positionals: true,
  async run(options, [action]) {
    if (action !== "run")
      throw new ConfigError('Usage: medgate eval run --model … (see "medgate eval --help").');
    const suitePath = options.suite === "medical" ? defaultSuitePath : options.suite;
    try {
      if (options.protocol) checkedSettings({ protocol: options.protocol, shots: options.shots });
    } catch (error) {
      throw new ConfigError(
        `--protocol ${options.protocol} --shots ${options.shots}: ${(error as Error).message}`,
      );
    }
    const progress = new ProgressLine();
    const apiKey = options.scorerKeyEnv ? processEnvironment()[options.scorerKeyEnv] : undefined;
    if (options.scorerKeyEnv && !apiKey)
      throw new ConfigError(`--scorer-key-env names ${options.scorerKeyEnv}, which is not set.`);
    const run = await withDatabase(options, async (db) => {
      let model: EvaluatedModel;
      let scorer: RemoteScorer | undefined;
      if (options.scorer) {
        const version = await findModelVersionByRef(db, options.model);
        model = version ? evaluatedVersion(version) : evaluatedRemoteModel(options.model);
        const endpoint = new ScoringEndpoint({ url: options.scorer, apiKey, parallel: options.parallel });
        scorer = await RemoteScorer.open(endpoint, version ? remoteModelOf(version) : options.model);
      } else model = await modelToScore(options.model, (ref) => findModelVersionByRef(db, ref));
      console.error(`medgate: scoring ${scorer?.label ?? model.label} on ${suitePath}…`);
      return runEvaluation(db, {
        model,
        scorer,
        suitePath,
        settings: { limit: options.limit, shots: options.shots, protocol: options.protocol },
        engine: { threads: options.threads, parallel: options.parallel },
        onProgress: ({ done, total }) => progress.update("scoring", done, total),
      });
    });
    progress.end();
    const summary = run.summary as {
      benchmarks: Record<string, { n: number; acc: number; accNorm: number }>;
      pooled: { n: number; acc: number; accNorm: number };
    };
    console.log(["benchmark", "n", "acc", "acc_norm"].join("\t"));
    const rows = [...Object.entries(summary.benchmarks), ["pooled", summary.pooled] as const];
    for (const [name, row] of rows)
      console.log([name, row.n, row.acc.toFixed(4), row.accNorm.toFixed(4)].join("\t"));
    const unregistered = options.scorer
      ? " (a model of the scorer, unregistered)"
      : " (an unregistered file)";
    console.error(`medgate: eval run ${run.id} stored${run.modelVersionId ? "" : unregistered}.`);
  },
});

/** A registered version by id, NAME or NAME@vN; else a .gguf path as it is. */
export async function modelToScore(
  ref: string,
  findVersion: (ref: string) => Promise<Parameters<typeof evaluatedVersion>[0] | undefined>,
): Promise<EvaluatedModel> {
  const version = await findVersion(ref);
  if (version) return evaluatedVersion(version);
  if (/\.gguf$/iu.test(ref) || existsSync(ref)) {
    if (!existsSync(ref)) throw new ConfigError(`No GGUF file at ${ref}.`);
    return evaluatedFile(ref);
  }
  throw new ConfigError(`No model version "${ref}" and no such file (see \`medgate models list\`).`);
}
