// Multiple-choice scoring the way lm-evaluation-harness does it: the log-likelihood of each answer
// continuation after a shared prompt, argmax for `acc`, argmax per character for `acc_norm`.
import { mapConcurrent } from "../concurrency.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import type { McqItem } from "./benchmarks/records.ts";

/** One multiple-choice question, as the benchmark readers produce it. */
export type ScoredItem = McqItem;

export type PromptSettings = {
  /** Solved examples before the question, taken from the same benchmark. Default: 0 */
  shots: number;
  /**
   * `chat`: the prompt is the user's message through the model's chat template and the answer follows
   * with no space (Med42-v2's evaluation); `plain`: raw text, the answer after a space (Hippocrates').
   */
  format: "plain" | "chat";
  /**
   * What is scored: `letter` (" A", " B"...: lm-eval's mmlu, medmcqa, medqa tasks) or `text` (the answer's
   * own words, where acc_norm differs from acc). PubMedQA always scores yes/no/maybe.
   */
  continuation: "letter" | "text";
};

export const defaultPromptSettings: PromptSettings = { shots: 0, format: "plain", continuation: "letter" };

const letters = ["A", "B", "C", "D", "E", "F", "G", "H"];

/** The question as lm-eval's tasks write it, ending with "Answer:". */
export function questionText(item: ScoredItem, settings: PromptSettings): string {
  if (item.benchmark.startsWith("pubmedqa")) return `${item.question}\nAnswer:`;
  const options =
    settings.continuation === "letter"
      ? item.choices.map((choice, i) => `${letters[i]}. ${choice}`).join("\n")
      : item.choices.map((choice) => `- ${choice}`).join("\n");
  return `Question: ${item.question}\n${options}\nAnswer:`;
}

/** The continuations scored for an item, without the leading delimiter. */
export function answerTexts(item: ScoredItem, settings: PromptSettings): string[] {
  if (item.benchmark.startsWith("pubmedqa") || settings.continuation === "text") return item.choices;
  return item.choices.map((_, i) => letters[i]!);
}

/** The shared prompt of an item: description, k solved examples, the question. */
export function promptOf(item: ScoredItem, examples: ScoredItem[], settings: PromptSettings): string {
  const subject = item.subject ?? item.benchmark.replace(/^mmlu_/u, "").replaceAll("_", " ");
  const description = `The following are multiple choice questions (with answers) about ${subject}.\n\n`;
  const solved = examples
    .map(
      (example) => `${questionText(example, settings)} ${answerTexts(example, settings)[example.answer]}\n\n`,
    )
    .join("");
  return `${description}${solved}${questionText(item, settings)}`;
}

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

/** Splits items into few-shot examples (the first `shots` of each benchmark) and the scored rest. */
export function splitShots(
  items: ScoredItem[],
  shots: number,
): { examples: Map<string, ScoredItem[]>; scored: ScoredItem[] } {
  const examples = new Map<string, ScoredItem[]>();
  const scored: ScoredItem[] = [];
  for (const item of items) {
    const taken = examples.get(item.benchmark) ?? [];
    if (taken.length < shots) {
      taken.push(item);
      examples.set(item.benchmark, taken);
    } else scored.push(item);
  }
  return { examples, scored };
}

/**
 * Scores items `scorer.parallel` at a time; each item's prompt is evaluated once and reused for all its
 * choices. `onResult` gets each item's result as it finishes (in no particular order).
 */
export async function scoreItems(
  scorer: Scorer,
  items: ScoredItem[],
  examples: Map<string, ScoredItem[]>,
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
      const prompt = promptOf(item, examples.get(item.benchmark) ?? [], settings);
      const answers = answerTexts(item, settings);
      const logprobs = await logprobsOf(scorer, prompt, answers, settings, options);
      const normalized = logprobs.map((value, i) => value / Math.max(1, answers[i]!.length));
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
  prompt: string,
  answers: string[],
  settings: PromptSettings,
  options: { signal?: AbortSignal; reusePrompt?: boolean },
): Promise<number[]> {
  // Without the shared prefix (a benchmark baseline only): one prompt evaluation per choice.
  if (options.reusePrompt === false) {
    const each = await Promise.all(
      answers.map((answer) =>
        logprobsOf(scorer, prompt, [answer], settings, { ...options, reusePrompt: true }),
      ),
    );
    return each.map((values) => values[0]!);
  }
  if (settings.format === "chat") {
    const scores = await scorer.scoreContinuations([{ role: "user", content: prompt }], answers, {
      signal: options.signal,
      truncateLeft: true,
    });
    return scores.map((score) => score.logprob);
  }
  const scores = await scorer.scoreContinuations(
    prompt,
    answers.map((answer) => ` ${answer}`),
    { signal: options.signal, truncateLeft: true },
  );
  return scores.map((score) => score.logprob);
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
