// The previous round's model as the reward model: DPO's implicit reward β·[log π_k(y|x) − log π_ref(y|x)].
import type { Scorer } from "../scoring/Scorer.ts";
import type { Judge } from "./types.ts";

/**
 * `policy` is π_k, the champion DPO produced; `reference` is π_ref, the model it was trained from. Both
 * log-likelihoods are exact scores of the answer plus its end-of-turn token (`inference/`, here or on a server).
 */
export function implicitRewardJudge(options: { policy: Scorer; reference: Scorer; beta: number }): Judge {
  const { policy, reference, beta } = options;
  const score: Judge["score"] = async (conversation, candidates, signal) => {
    const [policyScores, referenceScores] = await Promise.all([
      policy.scoreAnswers(conversation, candidates, { signal }),
      reference.scoreAnswers(conversation, candidates, { signal }),
    ]);
    return candidates.map((_, i) => beta * (policyScores[i]!.logprob - referenceScores[i]!.logprob));
  };
  return {
    name: "implicit-reward",
    describe: () => `implicit-reward (π_k ${policy.label} vs π_ref ${reference.label}, β=${beta})`,
    score,
    async compare(conversation, a, b, signal) {
      const [rewardA, rewardB] = await score(conversation, [a, b], signal);
      const margin = rewardA! - rewardB!;
      // Bradley–Terry: P(a better) = σ(r_a − r_b); each answer is scored alone, so no order is seen.
      const probability = 1 / (1 + Math.exp(-margin));
      return { margin, aShownFirst: probability, bShownFirst: probability };
    },
  };
}
