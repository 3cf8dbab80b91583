// Evaluation protocols: each writes a benchmark item's prompt, picks its few-shot examples and names the
// continuations scored exactly as one published evaluation does, so medgate's accuracies compare with the
// numbers reported under that protocol.
//
// - `lm-eval`: lm-evaluation-harness's own tasks (`medqa_4options`, `medmcqa`, `pubmedqa`, `mmlu_<subject>`,
//   as of lm-eval 0.4.13): each task's doc_to_text, description, target (" A" or " yes") and few-shot sampler.
//   With shots, this is also Hippocrates' setting (lm-eval, 0 and 5 shots).
// - `med42`: Med42-v2's evaluation: lm-eval's prompts zero-shot, through the model's chat template, scoring the
//   full answer text instead of its letter.
import type { ChatMessage } from "../../inference/chatTypes.ts";
import type { McqItem, McqTask } from "./benchmarks/records.ts";
import { PythonRandom } from "./pythonRandom.ts";

export const protocols = ["lm-eval", "med42"] as const;
export type Protocol = (typeof protocols)[number];

export const defaultProtocol: Protocol = "lm-eval";

const letters = ["A", "B", "C", "D", "E", "F", "G", "H"];

/** What lm-eval's task for each kind of item does. */
type LmEvalTask = {
  /** The lm-eval task name (for records and docs/gate.md). */
  name: (item: McqItem) => string;
  /** fewshot_config.sampler: `first_n` takes the split's first examples, `default` samples them. */
  sampler: "first_n" | "default";
  description: (item: McqItem) => string;
  docToText: (item: McqItem) => string;
  /** doc_to_choice: the continuations, without the target delimiter. */
  choices: (item: McqItem) => string[];
};

const letterChoices = (item: McqItem) => item.choices.map((_, i) => letters[i]!);

/** The characters Python's str.isspace() accepts (JavaScript's \\s differs: it has U+FEFF, lacks U+001C..U+001F, U+0085). */
const pythonSpace =
  "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const pythonStripped = new RegExp(`^[${pythonSpace}]+|[${pythonSpace}]+$`, "gu");

/** Python's str.strip(), which Jinja's `question.strip()` in lm-eval's MMLU template calls. */
function pythonStrip(text: string): string {
  return text.replace(pythonStripped, "");
}

const lmEvalTasks: Record<McqTask, LmEvalTask> = {
  // lm_eval/tasks/medqa: preprocess_medqa.doc_to_text.
  medqa: {
    name: () => "medqa_4options",
    sampler: "default",
    description: () => "",
    docToText: (item) =>
      `Question: ${item.question}\n${item.choices.map((choice, i) => `${letters[i]}. ${choice}\n`).join("")}Answer:`,
    choices: letterChoices,
  },
  // lm_eval/tasks/medmcqa: utils_medmcqa.doc_to_text.
  medmcqa: {
    name: () => "medmcqa",
    sampler: "default",
    description: () => "",
    docToText: (item) =>
      `Question: ${item.question}\nChoices:\n${item.choices.map((choice, i) => `${letters[i]}. ${choice}\n`).join("")}Answer:`,
    choices: letterChoices,
  },
  // lm_eval/tasks/pubmedqa: preprocess_pubmedqa.doc_to_text; doc_to_choice ["yes", "no", "maybe"].
  pubmedqa: {
    name: () => "pubmedqa",
    sampler: "default",
    description: () => "",
    docToText: (item) => `Abstract: ${(item.context ?? []).join("\n")}\nQuestion: ${item.question}\nAnswer:`,
    choices: (item) => item.choices,
  },
  // lm_eval/tasks/mmlu/default: _default_template_yaml and mmlu_<subject>.yaml.
  mmlu: {
    name: (item) => `mmlu_${(item.subject ?? "").replaceAll(" ", "_")}`,
    sampler: "first_n",
    description: (item) =>
      `The following are multiple choice questions (with answers) about ${item.subject}.\n\n`,
    docToText: (item) =>
      `${pythonStrip(item.question)}\n${item.choices.map((choice, i) => `${letters[i]}. ${choice}`).join("\n")}\nAnswer:`,
    choices: letterChoices,
  },
};

/** `settings` as given, or an error that says why its protocol cannot run them. */
export function checkedSettings<T extends { protocol: Protocol; shots: number }>(settings: T): T {
  if (settings.protocol === "med42" && settings.shots > 0)
    throw new Error(
      `the med42 protocol is zero-shot (got ${settings.shots} shots): use shots 0, or protocol lm-eval`,
    );
  return settings;
}

/** The lm-eval task whose prompts an item gets. */
export function lmEvalTaskName(item: McqItem): string {
  return lmEvalTasks[item.task].name(item);
}

/** What is scored for one item: a prompt and the continuations after it, one per choice. */
export type ItemPrompt = {
  /** Raw text (continuations follow it directly) or a conversation (they are the assistant's reply). */
  prompt: string | ChatMessage[];
  continuations: string[];
  /** The length acc_norm divides each choice's log-likelihood by: the choice's own text, no delimiter. */
  lengths: number[];
};

/** The item's prompt and continuations under `protocol`, after its few-shot `examples`. */
export function itemPrompt(item: McqItem, examples: readonly McqItem[], protocol: Protocol): ItemPrompt {
  const task = lmEvalTasks[item.task];
  if (protocol === "med42") {
    checkedSettings({ protocol, shots: examples.length });
    const description = task.description(item);
    const prompt: ChatMessage[] = [
      ...(description ? [{ role: "system" as const, content: description }] : []),
      { role: "user", content: task.docToText(item) },
    ];
    return { prompt, continuations: [...item.choices], lengths: item.choices.map((choice) => choice.length) };
  }
  // lm-eval's fewshot_context: description, each example as text + " " + its target + "\n\n", the question.
  const solved = examples
    .map((example) => `${task.docToText(example)} ${task.choices(example)[example.answer]}\n\n`)
    .join("");
  const choices = task.choices(item);
  return {
    prompt: `${task.description(item)}${solved}${task.docToText(item)}`,
    continuations: choices.map((choice) => ` ${choice}`),
    lengths: choices.map((choice) => choice.length),
  };
}

/** lm-eval's fewshot_random_seed default, which seeds each task's sampler. */
const fewshotSeed = 1234;

/**
 * Each item's few-shot examples, picked as lm-eval's sampler picks them for the task's documents in order:
 * `first_n` takes the pool's first `shots`; `default` draws `Random(1234).sample(pool, shots)` per question, one
 * generator per benchmark. `pool` is the task's few-shot split; where it is the benchmark's own file
 * (`sameFile`, lm-eval's fewshot_split equal to its test_split), a question is never its own example.
 */
export function fewshotExamples(
  items: readonly McqItem[],
  pool: readonly McqItem[],
  options: { shots: number; sameFile: boolean; benchmark: string },
): Map<McqItem, McqItem[]> {
  const { shots, sameFile } = options;
  const picked = new Map<McqItem, McqItem[]>();
  if (shots === 0 || items.length === 0) {
    for (const item of items) picked.set(item, []);
    return picked;
  }
  const available = pool.length - (sameFile ? 1 : 0);
  if (available < shots) {
    throw new Error(
      `benchmark "${options.benchmark}": ${shots} shots need ${shots} examples, but its few-shot ` +
        `${sameFile ? "source (the benchmark's own file, less the question)" : "file"} has ${available}`,
    );
  }
  const random = new PythonRandom(fewshotSeed);
  const sampler = lmEvalTasks[items[0]!.task].sampler;
  for (const item of items) {
    const others = (docs: readonly McqItem[]) => docs.filter((doc) => doc.id !== item.id);
    if (sampler === "first_n") {
      picked.set(item, (sameFile ? others(pool) : pool).slice(0, shots));
      continue;
    }
    if (!sameFile) {
      picked.set(item, random.sample(pool, shots));
      continue;
    }
    let drawn = others(random.sample(pool, shots + 1)).slice(0, shots);
    if (drawn.length < shots) drawn = random.sample(others(pool), shots);
    picked.set(item, drawn);
  }
  return picked;
}
