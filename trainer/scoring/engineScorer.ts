// The Scorer of a GGUF loaded here: the engine's own exact scoring, unchanged.
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { Scorer } from "./Scorer.ts";

export function engineScorer(engine: InferenceEngine): Scorer {
  return {
    label: engine.info.modelName,
    parallel: engine.info.parallel,
    scoreContinuations: (prompt, continuations, options) =>
      typeof prompt === "string"
        ? engine.scoreContinuations(prompt, continuations, options)
        : engine.scoreChatContinuations([...prompt], continuations, options),
    scoreAnswers: (messages, answers, options) => engine.scoreAnswers([...messages], answers, options),
  };
}
