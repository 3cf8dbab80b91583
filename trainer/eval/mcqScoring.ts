// Multiple-choice scoring the way lm-evaluation-harness does it: the log-likelihood of each answer
// continuation after a shared prompt, argmax for `acc`, argmax per character for `acc_norm`.
import { mapConcurrent } from "../concurrency.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import type { McqItem } from "./benchmarks/records.ts";
import { defaultProtocol, type ItemPrompt, itemPrompt, type Protocol } from "./protocols.ts";

/** One multiple-choice question, as the benchmark readers produce it. */
export type ScoredItem = McqItem;

export type PromptSettings = {
  /** How prompts are written, examples picked and answers scored (protocols.ts). Default: lm-eval */
  protocol: Protocol;
  /** Solved examples before each question, from the benchmark's few-shot split. Default: 0 */
  shots: number;
};

export const defaultPromptSettings: PromptSettings = { protocol: defaultProtocol, shots: 0 };

export type ItemResult = {
  benchmark: string;
  questionId: string;
  answer: number;
  predicted: number;
  predictedNorm: number;
  /** Log-likelihood of each choice's continuation. */
  logprobs: number[];
};

function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Scores items `scorer.parallel` at a time; each item's prompt is evaluated once and reused for all its
 * choices. `onResult` gets each item's result as it finishes (in no particular order).
 */
export async function scoreItems(
  scorer: Scorer,
  items: ScoredItem[],
  /** Each item's few-shot examples (none where absent). */
  examples: ReadonlyMap<ScoredItem, ScoredItem[]>,
  settings: PromptSettings,
  options: {
    signal?: AbortSignal;
    onResult?: (result: ItemResult) => void | Promise<void>;
    reusePrompt?: boolean;
  } = {},
): Promise<ItemResult[]> {
  return mapConcurrent(
    items,
    scorer.parallel,
    async (item) => {
      const prompt = itemPrompt(item, examples.get(item) ?? [], settings.protocol);
      const logprobs = await logprobsOf(scorer, prompt, options);
      const normalized = logprobs.map((value, i) => value / Math.max(1, prompt.lengths[i]!));
      const result: ItemResult = {
        benchmark: item.benchmark,
        questionId: item.id,
        answer: item.answer,
        predicted: argmax(logprobs),
        predictedNorm: argmax(normalized),
        logprobs,
      };
      await options.onResult?.(result);
      return result;
    },
    options.signal,
  );
}

async function logprobsOf(
  scorer: Scorer,
  { prompt, continuations }: ItemPrompt,
  options: { signal?: AbortSignal; reusePrompt?: boolean },
): Promise<number[]> {
  // Without the shared prefix (a benchmark baseline only): one prompt evaluation per choice.
  const groups = options.reusePrompt === false ? continuations.map((one) => [one]) : [continuations];
  const scored = await Promise.all(
    groups.map((group) =>
      scorer.scoreContinuations(prompt, group, { signal: options.signal, truncateLeft: true }),
    ),
  );
  return scored.flat().map((score) => score.logprob);
}

export type Accuracy = { n: number; acc: number; accNorm: number };

/** acc and acc_norm per benchmark and pooled over every item. */
export function accuracies(results: ItemResult[]): {
  benchmarks: Record<string, Accuracy>;
  pooled: Accuracy;
} {
  const groups = new Map<string, ItemResult[]>();
  for (const result of results)
    groups.set(result.benchmark, [...(groups.get(result.benchmark) ?? []), result]);
  const of = (rows: ItemResult[]): Accuracy => ({
    n: rows.length,
    acc: rows.filter((row) => row.predicted === row.answer).length / Math.max(1, rows.length),
    accNorm: rows.filter((row) => row.predictedNorm === row.answer).length / Math.max(1, rows.length),
  });
  return {
    benchmarks: Object.fromEntries([...groups].map(([name, rows]) => [name, of(rows)])),
    pooled: of(results),
  };
}
