// npm run bench:eval — questions/s on the MedMCQA dev file, in one run: node-llama-cpp with each question's
// shared prompt evaluated once versus re-evaluated for every choice, and the transformers reference the same
// two ways, all on the same f32 weights (the tiny fixture model).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { readMedMCQA } from "../trainer/eval/benchmarks/medmcqa.ts";
import { defaultPromptSettings, type ScoredItem, scoreItems } from "../trainer/eval/mcqScoring.ts";
import { itemPrompt } from "../trainer/eval/protocols.ts";
import { writeFixtures } from "../trainer/fixtures.ts";
import { runEngineScript } from "../trainer/pythonEngine.ts";
import { engineScorer } from "../trainer/scoring/engineScorer.ts";

const { values } = parseArgs({
  options: {
    file: { type: "string", default: "../shared/data/benchmarks/medmcqa/dev.jsonl" },
    questions: { type: "string", default: "400" },
    parallel: { type: "string", default: "4" },
  },
});
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-eval-"));
console.error(`bench:eval: writing the tiny model into ${scratch}…`);
const manifest = await writeFixtures(join(scratch, "models"));
const ggufPath = join(scratch, "models", manifest.gguf);
const hfDir = join(scratch, "models", manifest.hf_dir);
const items = (await readMedMCQA(values.file, { cop: "1-based" })).slice(0, Number(values.questions));
const settings = defaultPromptSettings;
const examples = new Map<ScoredItem, ScoredItem[]>();

const engine = await InferenceEngine.load({
  modelPath: ggufPath,
  modelName: "tiny",
  threads: 1,
  gpu: false,
  kvCache: "f32",
  parallel: Number(values.parallel),
  contextSize: 2048,
  maxQueue: 100_000,
});
const scorer = engineScorer(engine);
const timed = async (run: () => Promise<unknown>) => {
  const started = performance.now();
  await run();
  return items.length / ((performance.now() - started) / 1000);
};
// Warm-up, then shared prompt and per-choice prompt alternately, twice each; the better of each kept.
await scoreItems(scorer, items.slice(0, 20), examples, settings);
const shared: number[] = [];
const perChoice: number[] = [];
for (let round = 0; round < 2; round++) {
  shared.push(await timed(() => scoreItems(scorer, items, examples, settings)));
  perChoice.push(await timed(() => scoreItems(scorer, items, examples, settings, { reusePrompt: false })));
}
await engine[Symbol.asyncDispose]();

const referenceRun = async (reuse: boolean) => {
  const { stdout } = await runEngineScript("mcq_reference.py", [], {
    input: JSON.stringify({
      model_dir: hfDir,
      format: "plain",
      reuse_prompt: reuse,
      items: items.map((item) => {
        const { prompt, continuations } = itemPrompt(item, [], settings.protocol);
        return { prompt, continuations };
      }),
    }),
  });
  return (JSON.parse(stdout) as { questions_per_second: number }).questions_per_second;
};
const referenceShared = await referenceRun(true);
const referencePerChoice = await referenceRun(false);
await rm(scratch, { recursive: true, force: true });

const best = (list: number[]) => Math.max(...list);
const rows = [
  ["node-llama-cpp, prompt once per question", best(shared)],
  ["node-llama-cpp, prompt once per choice", best(perChoice)],
  ["transformers, prompt once per question (KV cache reused)", referenceShared],
  ["transformers, prompt once per choice", referencePerChoice],
] as const;
console.log(
  `\nMedMCQA dev, first ${items.length} questions, 4 choices, zero-shot letters, tiny f32 model, 1 thread, ${values.parallel} sequences:\n`,
);
console.log("| scorer | questions/s |");
console.log("|---|---:|");
for (const [name, rate] of rows) console.log(`| ${name} | ${rate.toFixed(1)} |`);
console.log(
  `\nshared prompt / per choice: node-llama-cpp ${(best(shared) / best(perChoice)).toFixed(2)}×, transformers ${(referenceShared / referencePerChoice).toFixed(2)}×; node-llama-cpp / transformers (shared): ${(best(shared) / referenceShared).toFixed(2)}×`,
);
