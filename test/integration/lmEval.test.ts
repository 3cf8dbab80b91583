// lm-evaluation-harness agrees with `medgate eval run`: lm-eval's own `local-completions` model (pinned by
// scripts/setup-lmeval.sh) runs lm-eval's own `medmcqa` and `mmlu_anatomy` tasks (their YAMLs included, over the
// real benchmark files) through a listening gateway's /v1/completions and tokenizer routes; its prompts,
// accuracies and every choice's log-likelihood equal those of runEvaluation with the lm-eval protocol on the
// same GGUF, at 0 and 1 shots.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type LmEvalRun,
  lmEvalCommand,
  loglikelihoods,
  medmcqaDoc,
  runLmEval,
  writeLmEvalTask,
} from "../../loadtest/lmEvalHarness.ts";
import { readMedMCQA } from "../../trainer/eval/benchmarks/medmcqa.ts";
import { readMmluCsv } from "../../trainer/eval/benchmarks/mmlu.ts";
import type { McqItem } from "../../trainer/eval/benchmarks/records.ts";
import { evalResultsOf, evaluatedFile, runEvaluation, suiteItems } from "../../trainer/eval/evalRun.ts";
import type { Accuracy, ItemResult, PromptSettings, ScoredItem } from "../../trainer/eval/mcqScoring.ts";
import { itemPrompt } from "../../trainer/eval/protocols.ts";
import { data, hasData } from "../support/benchmarkFiles.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const contextSize = 2048;
/** Questions per task: lm-eval's --limit, medgate's limit. */
const limit = 10;
type LmEvalBenchmark = {
  name: string;
  format: string;
  path: string;
  /** lm-eval's task: its YAML, the split it evaluates, and the document it reads for a medgate item. */
  yaml: string;
  split: string;
  read: (path: string) => Promise<McqItem[]>;
  doc: (item: McqItem) => Record<string, unknown>;
};

const benchmarks: LmEvalBenchmark[] = [
  {
    name: "medmcqa",
    format: "medmcqa",
    path: join(data, "medmcqa", "dev.jsonl"),
    yaml: "medmcqa/medmcqa.yaml",
    split: "validation",
    read: (path: string) => readMedMCQA(path, { cop: "1-based" }),
    doc: medmcqaDoc,
  },
  {
    name: "mmlu_anatomy",
    format: "mmlu",
    path: join(data, "mmlu", "anatomy_test.csv"),
    yaml: "mmlu/default/mmlu_anatomy.yaml",
    split: "test",
    read: (path: string) => readMmluCsv(path),
    doc: (item: McqItem) => ({
      id: item.id,
      question: item.question,
      subject: "anatomy",
      choices: item.choices,
      answer: item.answer,
    }),
  },
];

/** The settings compared, each run as lm-eval's task per benchmark. */
const cases = {
  zeroShot: { protocol: "lm-eval", shots: 0 },
  oneShot: { protocol: "lm-eval", shots: 1 },
} as const satisfies Record<string, PromptSettings>;
type CaseName = keyof typeof cases;

const jsonLines = (docs: unknown[]) => `${docs.map((doc) => JSON.stringify(doc)).join("\n")}\n`;

type MedgateSide = {
  scored: ScoredItem[];
  examples: Map<ScoredItem, ScoredItem[]>;
  summary: { benchmarks: Record<string, Accuracy>; pooled: Accuracy };
  results: ItemResult[];
};

let gateway: TestGateway;
let scratch: string;
let lmEval: LmEvalRun;
const medgate = new Map<CaseName, MedgateSide>();
const taskOf = (name: CaseName, benchmark: string) => `medgate_${name}_${benchmark}`;

beforeAll(async () => {
  // Never skipped: a missing venv fails here with the command that makes it.
  lmEvalCommand();
  if (!hasData) throw new Error(`${data} is absent: this test scores real benchmark questions.`);
  scratch = await mkdtemp(join(tmpdir(), "medgate-lmeval-"));
  gateway = await startGateway({
    modelPath: testModels().ggufPath,
    contextSize,
    parallel: 2,
    kvCache: "f32",
  });
  const suitePath = join(scratch, "suite.json");
  await writeFile(
    suitePath,
    JSON.stringify({
      name: "lmeval-agreement",
      version: 1,
      benchmarks: benchmarks.map(({ name, format, path }) => ({ name, format, path })),
    }),
  );
  const model = await evaluatedFile(testModels().ggufPath);
  const tasksDir = join(scratch, "tasks");
  await mkdir(tasksDir);
  // lm-eval's side: its own task per benchmark over the whole file (its few-shot split too, as medgate's default).
  for (const benchmark of benchmarks) {
    const docs = join(tasksDir, `${benchmark.name}.jsonl`);
    await writeFile(docs, jsonLines((await benchmark.read(benchmark.path)).map(benchmark.doc)));
    const files = { [benchmark.split]: docs };
    for (const [name, settings] of Object.entries(cases) as [CaseName, PromptSettings][]) {
      await writeLmEvalTask({
        dir: tasksDir,
        task: taskOf(name, benchmark.name),
        include: benchmark.yaml,
        files,
        fewshotSplit: benchmark.split,
        shots: settings.shots,
      });
    }
  }
  for (const [name, settings] of Object.entries(cases) as [CaseName, (typeof cases)[CaseName]][]) {
    // medgate's side: `medgate eval run --model FILE.gguf --limit N --shots K` as a function, on its own engine.
    const items = await suiteItems(suitePath, { ...settings, limit });
    const run = await runEvaluation(gateway.database.db, {
      model,
      suitePath,
      items,
      settings: { ...settings, limit },
      engine: { gpu: false, threads: 1, contextSize, parallel: 2 },
    });
    medgate.set(name, {
      ...items,
      summary: run.summary as MedgateSide["summary"],
      results: await evalResultsOf(gateway.database.db, run.id),
    });
  }
  lmEval = await runLmEval({
    baseUrl: gateway.url,
    model: "tiny",
    apiKey: gateway.apiKey,
    tasks: Object.keys(cases).flatMap((name) => benchmarks.map((b) => taskOf(name as CaseName, b.name))),
    includePath: tasksDir,
    outputPath: join(scratch, "out"),
    maxLength: contextSize,
    limit,
    env: { HF_HOME: join(scratch, "hf") },
  });
  console.info(`lm_eval ${lmEval.argv.join(" ")}\n  ran in ${lmEval.wallSeconds.toFixed(1)} s`);
}, 300_000);

afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("lm-evaluation-harness's local-completions against medgate", () => {
  it("runs on a tokenizer that adds no BOS, which lm-eval's remote tokenizer never adds either", () => {
    // lm-eval's RemoteTokenizer asks /tokenize with add_special_tokens false; medgate's eval adds BOS where the
    // tokenizer wants one. On such a model the two would differ by the BOS; the fixture's (and SmolLM2's) add none.
    expect(gateway.engine.addsBos).toBe(false);
  });

  it("echoes the end-of-generation token that stops its one generated token, whose slot lm-eval drops", async () => {
    // lm-eval sums token_logprobs[ctxlen:-1] of a max_tokens 1 echo: the last entry must be the generated token,
    // also where the model ends at once (it did not, and the continuation's last token was dropped instead).
    // The one-shot prompts, each followed by a whole answer text (an answer the fixture often ends after).
    const side = medgate.get("oneShot")!;
    let stopped = 0;
    for (const item of side.scored) {
      const { prompt } = itemPrompt(item, side.examples.get(item) ?? [], "lm-eval");
      for (const answer of item.choices) {
        const tokens = gateway.engine.tokenize(`${prompt} ${answer}`, { bos: false });
        const echo = async (max_tokens: number) => {
          const response = await fetch(`${gateway.url}/v1/completions`, {
            method: "POST",
            headers: { ...gateway.authHeaders, "content-type": "application/json" },
            // Greedy, as lm-eval asks: node-llama-cpp holds back a sampled token that is an incomplete
            // character or could begin an end-of-turn text, so a random one at max_tokens may go unechoed.
            body: JSON.stringify({
              model: "tiny",
              prompt: [tokens],
              max_tokens,
              logprobs: 1,
              echo: true,
              temperature: 0,
            }),
          });
          expect(response.status).toBe(200);
          return ((await response.json()) as { choices: OpenAI.CompletionChoice[] }).choices[0]!;
        };
        const [generated, scored] = [await echo(1), await echo(0)];
        expect(generated.logprobs!.token_logprobs).toHaveLength(tokens.length + 1);
        expect(generated.logprobs!.token_logprobs!.slice(0, -1)).toEqual(scored.logprobs!.token_logprobs);
        if (generated.finish_reason === "stop") {
          stopped++;
          expect(generated.text).toBe(scored.text);
        }
      }
    }
    // The fixture ends some of these answers at once (the case this test is about).
    expect(stopped).toBeGreaterThan(0);
  });

  it.each(Object.keys(cases) as CaseName[])(
    "%s: the same prompts, accuracies and log-likelihoods as medgate eval run",
    (name) => {
      const side = medgate.get(name)!;
      const settings = cases[name];
      const byId = new Map(
        side.results.map((result) => [`${result.benchmark}/${result.questionId}`, result]),
      );
      let worst = 0;
      let compared = 0;
      for (const { name: benchmark } of benchmarks) {
        const task = taskOf(name, benchmark);
        const samples = lmEval.samples[task]!;
        const items = side.scored.filter((item) => item.benchmark === benchmark);
        expect(samples).toHaveLength(items.length);
        for (const sample of samples) {
          const item = items.find((candidate) => candidate.id === sample.doc.id)!;
          expect(item, String(sample.doc.id)).toBeDefined();
          // The context and continuations lm-eval sent are medgate's, character for character.
          const { prompt, continuations } = itemPrompt(
            item,
            side.examples.get(item) ?? [],
            settings.protocol,
          );
          const requests = Object.values(sample.arguments);
          expect(requests.map((request) => request.arg_0)).toEqual(requests.map(() => prompt));
          expect(requests.map((request) => request.arg_1)).toEqual(continuations);
          const ours = byId.get(`${benchmark}/${item.id}`)!;
          const theirs = loglikelihoods(sample);
          expect(theirs).toHaveLength(ours.logprobs.length);
          theirs.forEach((value, i) => {
            worst = Math.max(worst, Math.abs(value - ours.logprobs[i]!));
          });
          expect(sample.acc).toBe(ours.predicted === ours.answer ? 1 : 0);
          // lm-eval's medmcqa reports acc_norm too; its mmlu tasks only acc.
          if (benchmark === "medmcqa")
            expect(sample.acc_norm).toBe(ours.predictedNorm === ours.answer ? 1 : 0);
          compared++;
        }
        const summary = side.summary.benchmarks[benchmark]!;
        expect(Number(lmEval.results[task]!["acc,none"])).toBeCloseTo(summary.acc, 12);
        const theirNorm = lmEval.results[task]!["acc_norm,none"];
        if (benchmark === "medmcqa") expect(Number(theirNorm)).toBeCloseTo(summary.accNorm, 12);
        console.info(
          `${task}: n=${summary.n} acc ${summary.acc.toFixed(4)} (lm-eval ${Number(lmEval.results[task]!["acc,none"]).toFixed(4)}), acc_norm ${summary.accNorm.toFixed(4)} (lm-eval ${theirNorm === undefined ? "not reported" : Number(theirNorm).toFixed(4)})`,
        );
      }
      console.info(`${name}: ${compared} questions, largest |Δ log-likelihood| ${worst.toExponential(2)}`);
      expect(compared).toBe(side.scored.length);
      expect(worst).toBeLessThan(1e-4);
    },
  );
});
