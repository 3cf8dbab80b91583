// `medgate judge eval --judge pairwise|implicit-reward --judge-model … --pairs FILE|--round REF`: how far a judge
// agrees with clinicians on pairs they labelled, the figures a round measures before it uses its judge.
import "disposablestack/auto";
import { writeFile } from "node:fs/promises";
import { z } from "zod";
import { findModelVersion, findModelVersionByRef } from "../db/modelVersions.ts";
import { findRoundByRef } from "../db/rounds.ts";
import { verifyModelFile } from "../inference/fileDigest.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { type Estimate, type JudgeAgreement, measureAgreement } from "../trainer/judges/agreement.ts";
import { implicitRewardJudge } from "../trainer/judges/implicitReward.ts";
import { readLabelledPairs, roundLabelledPairs } from "../trainer/judges/labelledPairs.ts";
import { endpointVerdicts, pairwiseJudge, scorerVerdicts } from "../trainer/judges/pairwise.ts";
import type { Judge } from "../trainer/judges/types.ts";
import { engineScorer } from "../trainer/scoring/engineScorer.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, databaseOptions, engineOptions, option, processEnvironment } from "./config.ts";
import { modelToScore } from "./evalCommand.ts";
import { withDatabase } from "./openDatabase.ts";

export const judgeCommand = defineCommand({
  usage: `Usage: medgate judge eval --judge pairwise --judge-model VERSION|FILE.gguf|URL (--pairs FILE | --round ROUND)
       medgate judge eval --judge implicit-reward --judge-model VERSION (--pairs FILE | --round ROUND)

Runs a judge on pairs of answers clinicians labelled, their labels hidden from it, and prints its agreement
with them: accuracy on the clinicians' preferred side, Cohen's kappa (better/worse/tie), position consistency
(the verdict survives swapping the answers) and length bias (how often the longer answer is preferred, by
the judge and by the clinicians), each with a bootstrap 95% interval and the number of pairs. These are the
figures a round checks against its judgeAgreement minimum. The pairwise judge is a GGUF (a registered version
or a file) or an OpenAI-compatible endpoint (URL with --endpoint-model); the implicit reward is a version
against its parent. --pairs takes JSON lines {"conversation":[…],"a":"…","b":"…","preference":"a"|"b"|"tie"};
--round takes a round's clinician-labelled pairs (its id, an id prefix, or NAME#N).`,
  options: z.object({
    judge: option(
      z.enum(["pairwise", "implicit-reward"], { error: "judge eval needs --judge pairwise|implicit-reward" }),
      {
        help: "The judge's kind",
        value: "KIND",
        env: false,
      },
    ),
    judgeModel: option(z.string({ error: "judge eval needs --judge-model" }).min(1), {
      help: "pairwise: a version, a .gguf file or an endpoint URL; implicit-reward: a version with a parent",
      value: "MODEL",
      env: false,
    }),
    endpointModel: option(z.string().min(1).optional(), {
      help: "With an endpoint URL: the model id it serves",
      value: "ID",
      env: false,
    }),
    endpointKeyEnv: option(z.string().min(1).optional(), {
      help: "Environment variable holding the endpoint's API key",
      value: "VAR",
      defaultText: "none",
      env: false,
    }),
    pairs: option(z.string().min(1).optional(), {
      help: "Labelled pairs, JSON lines",
      value: "FILE",
      env: false,
    }),
    round: option(z.string().min(1).optional(), {
      help: "Take the clinician-labelled pairs of this round",
      value: "ROUND",
      env: false,
    }),
    minMargin: option(z.coerce.number().min(0).default(0.05), {
      help: "A margin under this is the judge's tie (a round's minMargin)",
      value: "M",
      env: false,
    }),
    beta: option(z.coerce.number().positive().default(0.1), {
      help: "β of the implicit reward",
      value: "B",
      env: false,
    }),
    resamples: option(z.coerce.number().int().min(1000).default(2000), {
      help: "Bootstrap resamples",
      value: "N",
      env: false,
    }),
    json: option(z.string().min(1).optional(), {
      help: "Also write the figures and every pair's verdicts to this JSON file",
      value: "FILE",
      env: false,
    }),
    threads: engineOptions.threads,
    ...databaseOptions,
  }),
  positionals: true,
  async run(options, [action]) {
    if (action !== "eval")
      throw new ConfigError('Usage: medgate judge eval --judge … (see "medgate judge --help").');
    if ((options.pairs === undefined) === (options.round === undefined))
      throw new ConfigError("judge eval needs one of --pairs FILE or --round ROUND.");
    const agreement = await withDatabase(options, async (db) => {
      let pairs: Awaited<ReturnType<typeof readLabelledPairs>>;
      if (options.pairs) {
        try {
          pairs = await readLabelledPairs(options.pairs);
        } catch (error) {
          throw new ConfigError((error as Error).message);
        }
      } else {
        const round = await findRoundByRef(db, options.round!);
        if (!round) throw new ConfigError(`No round "${options.round}".`);
        pairs = await roundLabelledPairs(db, round.id);
        if (pairs.length === 0)
          throw new ConfigError(
            `Round ${round.modelName}#${round.number} holds no clinician-labelled pairs.`,
          );
      }
      await using owned = new AsyncDisposableStack();
      const load = async (path: string, name: string, sha256?: string) => {
        if (sha256) await verifyModelFile(path, sha256);
        return engineScorer(
          owned.use(
            await InferenceEngine.load({
              modelPath: path,
              modelName: name,
              kvCache: "f32",
              gpu: false,
              threads: options.threads,
              parallel: 2,
            }),
          ),
        );
      };
      let judge: Judge;
      if (options.judge === "implicit-reward") {
        const version = await findModelVersionByRef(db, options.judgeModel);
        if (!version)
          throw new ConfigError(`No model version "${options.judgeModel}" (see \`medgate models list\`).`);
        const parent = version.parentId ? await findModelVersion(db, version.parentId) : undefined;
        if (!parent)
          throw new ConfigError(
            `${version.name}@v${version.version} has no parent to be the implicit reward's reference.`,
          );
        judge = implicitRewardJudge({
          policy: await load(version.ggufPath, `${version.name}@v${version.version}`, version.ggufSha256),
          reference: await load(parent.ggufPath, `${parent.name}@v${parent.version}`, parent.ggufSha256),
          beta: options.beta,
        });
      } else if (/^https?:\/\//u.test(options.judgeModel)) {
        if (!options.endpointModel) throw new ConfigError("An endpoint judge needs --endpoint-model ID.");
        const apiKey = options.endpointKeyEnv ? processEnvironment()[options.endpointKeyEnv] : undefined;
        if (options.endpointKeyEnv && !apiKey)
          throw new ConfigError(`--endpoint-key-env names ${options.endpointKeyEnv}, which is not set.`);
        judge = pairwiseJudge(
          endpointVerdicts({ url: options.judgeModel, model: options.endpointModel, apiKey }),
        );
      } else {
        const model = await modelToScore(options.judgeModel, (ref) => findModelVersionByRef(db, ref));
        judge = pairwiseJudge(
          scorerVerdicts(await load(model.ggufPath!, model.label, model.ggufSha256 ?? undefined)),
        );
      }
      console.error(`medgate: ${judge.describe()} on ${pairs.length} labelled pairs…`);
      // Awaited here: the engines are disposed when this block ends.
      return await measureAgreement(judge, pairs, {
        tieMargin: options.minMargin,
        resamples: options.resamples,
      });
    });
    console.log(agreementTable(agreement));
    if (options.json) await writeFile(options.json, `${JSON.stringify(agreement, null, 2)}\n`);
  },
});

const shown = (estimate: Estimate) =>
  estimate.value === null
    ? "n/a"
    : `${estimate.value.toFixed(3)}\t[${estimate.lower!.toFixed(3)}, ${estimate.upper!.toFixed(3)}]`;

/** The figures as tab-separated lines: figure, value, 95% interval. */
export function agreementTable(agreement: Omit<JudgeAgreement, "verdicts">): string {
  return [
    `judge\t${agreement.judge}`,
    `pairs\t${agreement.pairs} (${agreement.decisive} decisive)`,
    `accuracy\t${shown(agreement.accuracy)}`,
    `kappa\t${shown(agreement.kappa)}`,
    `position consistency\t${shown(agreement.positionConsistency)}`,
    `judge prefers longer\t${shown(agreement.lengthBias.judgeLongerShare)}`,
    `clinicians prefer longer\t${shown(agreement.lengthBias.clinicianLongerShare)}`,
  ].join("\n");
}
