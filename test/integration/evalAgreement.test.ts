// Benchmark scoring agrees with the reference method: the same questions scored with transformers on the
// same f32 fixture weights, tokenized the way lm-evaluation-harness does, give the same predictions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { defaultSuitePath, suiteItems } from "../../trainer/eval/evalRun.ts";
import {
  type ItemResult,
  type PromptSettings,
  type ScoredItem,
  scoreItems,
} from "../../trainer/eval/mcqScoring.ts";
import { itemPrompt } from "../../trainer/eval/protocols.ts";
import { runEngineScript } from "../../trainer/pythonEngine.ts";
import { engineScorer } from "../../trainer/scoring/engineScorer.ts";
import { testModels } from "../support/fixtures.ts";

let engine: InferenceEngine;

beforeAll(async () => {
  engine = await InferenceEngine.load({
    modelPath: testModels().ggufPath,
    modelName: "tiny",
    threads: 1,
    gpu: false,
    kvCache: "f32",
    parallel: 4,
    contextSize: 2048,
    maxQueue: 10_000,
  });
});
afterAll(async () => {
  await engine?.[Symbol.asyncDispose]();
});

async function reference(
  items: ScoredItem[],
  examples: Map<ScoredItem, ScoredItem[]>,
  settings: PromptSettings,
): Promise<number[][]> {
  const prompts = items.map((item) => itemPrompt(item, examples.get(item) ?? [], settings.protocol));
  const { stdout } = await runEngineScript("mcq_reference.py", [], {
    input: JSON.stringify({
      model_dir: testModels().hfDir,
      format: typeof prompts[0]!.prompt === "string" ? "plain" : "chat",
      context_size: engine.info.contextSize,
      items: prompts.map(({ prompt, continuations }) => ({ prompt, continuations })),
    }),
  });
  return (JSON.parse(stdout) as { items: { logprobs: number[] }[] }).items.map((item) => item.logprobs);
}

/** Agreement of argmax predictions, leaving out items whose two best choices tie within `tie` nats. */
function agreement(
  ours: ItemResult[],
  theirs: number[][],
  tie = 1e-4,
): { agree: number; compared: number; worst: number } {
  let agree = 0;
  let compared = 0;
  let worst = 0;
  ours.forEach((result, i) => {
    const reference = theirs[i]!;
    for (let k = 0; k < reference.length; k++)
      worst = Math.max(worst, Math.abs(reference[k]! - result.logprobs[k]!));
    const sorted = [...reference].sort((a, b) => b - a);
    if (sorted[0]! - sorted[1]! < tie) return;
    compared++;
    if (reference.indexOf(sorted[0]!) === result.predicted) agree++;
  });
  return { agree, compared, worst };
}

describe("scoring agreement with transformers", () => {
  it("renders a conversation without a BOS the tokenizer does not add, as transformers does", () => {
    // The fixture's tokenizer adds no BOS; node-llama-cpp's ChatML wrapper would begin with one, and every
    // chat-format score would then differ from transformers' by a constant (0.67 nats on this model).
    expect(engine.model.tokens.shouldPrependBosToken).toBe(false);
    const tokens = engine.promptTokensOf([{ role: "user", content: "Is a fever of 38 C dangerous?" }]);
    expect(engine.model.detokenize(tokens.slice(0, 2), true)).toBe("<|im_start|>user");
  });

  it.each([
    ["lm-eval, zero-shot", { protocol: "lm-eval", shots: 0 }, 40],
    ["lm-eval, one-shot", { protocol: "lm-eval", shots: 1 }, 10],
    ["med42: chat template, answer texts", { protocol: "med42", shots: 0 }, 10],
  ] as const)(
    "%s: ≥ 99%% of predictions agree",
    async (_label, settings, limit) => {
      const { scored, examples } = await suiteItems(defaultSuitePath, { ...settings, limit });
      const ours = await scoreItems(engineScorer(engine), scored, examples, settings);
      const theirs = await reference(scored, examples, settings);
      const { agree, compared, worst } = agreement(ours, theirs);
      console.info(
        `${_label}: ${agree}/${compared} agree (of ${scored.length}); largest log-prob difference ${worst.toExponential(2)}`,
      );
      expect(compared).toBeGreaterThanOrEqual(scored.length * 0.9);
      expect(agree / compared).toBeGreaterThanOrEqual(0.99);
      // Same tokens, same weights: the scores themselves agree, not only their argmax.
      expect(worst).toBeLessThan(1e-3);
    },
    300_000,
  );
});
