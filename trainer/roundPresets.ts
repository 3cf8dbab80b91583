// Round configurations for models far from the 7–8B the defaults suit.
import type { RoundConfigInput } from "./roundConfig.ts";

/**
 * For the tiny fixture model (`medgate fixtures`): few candidates, short answers, a learning rate that moves
 * a 64-wide model in a few steps without breaking its output (5e-3 does), one thread, and an f32 GGUF so
 * scores can be compared exactly with transformers.
 */
export function tinyRoundConfig(overrides: RoundConfigInput = {}): RoundConfigInput {
  return {
    candidates: 2,
    maxTokens: 24,
    minPrompts: 2,
    minMargin: 0,
    ggufType: "f32",
    inference: { threads: 1, parallel: 4, contextSize: 1024, gpu: "cpu" },
    ...overrides,
    dpo: {
      beta: 0.1,
      learningRate: 1e-3,
      epochs: 3,
      batchSize: 4,
      gradientAccumulationSteps: 1,
      maxLength: 256,
      warmupRatio: 0,
      threads: 1,
      lora: { r: 8, alpha: 16, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"] },
      ...overrides.dpo,
    },
  };
}
