// The previous round's model as the reward model: DPO's implicit reward β·[log π_k(y|x) − log π_ref(y|x)].
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { Judge } from "./types.ts";

/**
 * `policy` is π_k, the champion DPO produced; `reference` is π_ref, the model it was trained from. Both
 * log-likelihoods come from the exact scoring of `inference/` (the answer plus its end-of-turn token).
 */
export function implicitRewardJudge(options: {
  policy: InferenceEngine;
  reference: InferenceEngine;
  beta: number;
}): Judge {
  const { policy, reference, beta } = options;
  return {
    name: "implicit-reward",
    describe: () =>
      `implicit-reward (π_k ${policy.info.modelName} vs π_ref ${reference.info.modelName}, β=${beta})`,
    async score(conversation, candidates, signal) {
      const [policyScores, referenceScores] = await Promise.all([
        policy.scoreAnswers(conversation, candidates, { signal }),
        reference.scoreAnswers(conversation, candidates, { signal }),
      ]);
      return candidates.map((_, i) => beta * (policyScores[i]!.logprob - referenceScores[i]!.logprob));
    },
  };
}
