// Which judge scores a round's candidates, as its config says: the implicit reward of the champion against its
// parent, or the pairwise judge on a local GGUF (the champion by default) or an OpenAI-compatible endpoint. With a
// `scorer` server in the config, the champion and its parent are scored there instead of loaded here.
import "disposablestack/auto";
import type { RoundRow } from "../../db/schema.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { RoundConfig } from "../roundConfig.ts";
import { engineScorer } from "../scoring/engineScorer.ts";
import {
  engineOptions,
  openVersionScorer,
  RoundStepError,
  type StepContext,
  scoringEndpointOf,
  versionOf,
} from "../steps/stepContext.ts";
import { implicitRewardJudge } from "./implicitReward.ts";
import { endpointVerdicts, pairwiseJudge, scorerVerdicts } from "./pairwise.ts";
import type { Judge } from "./types.ts";

/** The judge, holding the engines it loaded until it is disposed. */
export async function judgeFor(
  round: RoundRow,
  config: RoundConfig,
  { db, env, signal }: Pick<StepContext, "db" | "env"> & { signal?: AbortSignal },
): Promise<Judge & AsyncDisposable> {
  await using owned = new AsyncDisposableStack();
  const base = await versionOf(db, round.baseVersionId);
  const endpoint = scoringEndpointOf(config, env);
  let judge: Judge;
  if (config.judge === "implicit-reward") {
    if (!base.parentId) throw new RoundStepError("The implicit-reward judge needs a champion with a parent.");
    const parent = await versionOf(db, base.parentId);
    // The two engines compute at once: they share the cores.
    const use = { kvCache: "f32", cpuShare: 2, endpoint, signal } as const;
    const policy = owned.use(await openVersionScorer(base, config, use));
    const reference = owned.use(await openVersionScorer(parent, config, use));
    judge = implicitRewardJudge({ policy, reference, beta: config.rewardBeta ?? config.dpo.beta });
  } else if (config.judgeModel && "endpoint" in config.judgeModel) {
    const { endpoint } = config.judgeModel;
    const apiKey = endpoint.apiKeyEnv ? env[endpoint.apiKeyEnv] : undefined;
    if (endpoint.apiKeyEnv && !apiKey) {
      throw new RoundStepError(`The judge endpoint's key variable ${endpoint.apiKeyEnv} is not set.`);
    }
    judge = pairwiseJudge(endpointVerdicts({ url: endpoint.url, model: endpoint.model, apiKey }));
  } else {
    // A judge GGUF of its own is a file here; the champion is scored where the config says.
    const gguf = config.judgeModel && "gguf" in config.judgeModel ? config.judgeModel.gguf : undefined;
    const scorer = gguf
      ? engineScorer(
          owned.use(
            await InferenceEngine.load({
              ...engineOptions(config, { kvCache: "f32" }),
              modelPath: gguf,
              modelName: `judge:${gguf}`,
            }),
          ),
        )
      : owned.use(await openVersionScorer(base, config, { kvCache: "f32", endpoint, signal }));
    judge = pairwiseJudge(scorerVerdicts(scorer));
  }
  const engines = owned.move();
  return { ...judge, [Symbol.asyncDispose]: () => engines.disposeAsync() };
}
