// The lm-eval protocol, character for character: for every task, medgate's prompts and continuations for the
// first questions of the benchmark files equal the requests lm-evaluation-harness's own task objects build for
// the same documents (test/support/lmeval_prompts.py, no model), at 0 and 5 shots, with the few-shot examples
// from the file itself and from a separate few-shot file. The med42 protocol's chat turns are lm-eval's
// zero-shot texts, and its continuations the choices' full texts.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv } from "../../trainer/eval/benchmarks/mmlu.ts";
import type { BenchmarkFormat } from "../../trainer/eval/benchmarks/suite.ts";
import { suiteItems } from "../../trainer/eval/evalRun.ts";
import { itemPrompt, lmEvalTaskName } from "../../trainer/eval/protocols.ts";
import { data, hasData } from "../support/benchmarkFiles.ts";
import { type LmEvalPrompt, type LmEvalPromptCase, lmEvalPrompts } from "../support/lmEvalHarness.ts";

const limit = 20;
const subjects = [
  "anatomy",
  "clinical_knowledge",
  "college_biology",
  "college_medicine",
  "medical_genetics",
  "professional_medicine",
];

type Task = {
  /** lm-eval's task name. */
  task: string;
  format: LmEvalPromptCase["format"];
  /** medgate's format name in a suite. */
  suiteFormat: BenchmarkFormat;
  file: string;
  fewshotFile: string;
  subject?: string;
};

type Case = LmEvalPromptCase & { suiteFormat: BenchmarkFormat };

let scratch: string;
let cases: Case[];
let lmEval: { version: string; cases: Record<string, LmEvalPrompt[]> };

type MedMCQARow = {
  question: string;
  opa: string;
  opb: string;
  opc: string;
  opd: string;
  cop: number;
  exp: string | null;
};

/** MedMCQA dev questions in MedQA's release layout (data_clean/questions/US/4_options JSON lines). */
function medqaLines(rows: MedMCQARow[]): string {
  return rows
    .map((row) => {
      const options = { A: row.opa, B: row.opb, C: row.opc, D: row.opd };
      const letter = "ABCD"[row.cop - 1]!;
      return JSON.stringify({
        question: row.question,
        answer: options[letter as keyof typeof options],
        options,
        meta_info: "step1",
        answer_idx: letter,
      });
    })
    .join("\n");
}

/** MedMCQA dev questions with their explanations as abstracts, in PubMedQA's ori_pqal.json layout. */
function pubmedqaJson(rows: MedMCQARow[], firstPmid: number): string {
  const decisions = ["yes", "no", "maybe"];
  const records: Record<string, unknown> = {};
  rows.forEach((row, i) => {
    const contexts = (row.exp ?? "")
      .split(/(?<=\.)\s+|\n+/u)
      .map((part) => part)
      .filter((part) => part.trim() !== "");
    records[String(firstPmid + i)] = {
      QUESTION: row.question,
      CONTEXTS: contexts,
      LABELS: contexts.map(() => "BACKGROUND"),
      MESHES: [],
      final_decision: decisions[i % 3],
      LONG_ANSWER: contexts.at(-1),
    };
  });
  return JSON.stringify(records, null, 1);
}

/** RFC 4180 CSV, every field quoted. */
function csvText(records: string[][]): string {
  return records
    .map((fields) => fields.map((field) => `"${field.replaceAll('"', '""')}"`).join(","))
    .join("\r\n");
}

beforeAll(async () => {
  if (!hasData) throw new Error(`${data} is absent: this test renders the real benchmark files.`);
  scratch = await mkdtemp(join(tmpdir(), "medgate-lmeval-prompts-"));
  const files = join(scratch, "files");
  await mkdir(files);
  const medmcqa = join(data, "medmcqa", "dev.jsonl");
  const rows = (await readFile(medmcqa, "utf8"))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as MedMCQARow);
  const withAbstract = rows.filter((row) => (row.exp ?? "").trim() !== "");
  const write = async (name: string, text: string) => {
    const path = join(files, name);
    await writeFile(path, text);
    return path;
  };
  // MedQA and PubMedQA files are not beside the repository: real questions in their layouts stand in.
  const tasks: Task[] = [
    {
      task: "medqa_4options",
      format: "medqa",
      suiteFormat: "medqa",
      file: await write("medqa_test.jsonl", medqaLines(rows.slice(0, 40))),
      fewshotFile: await write("medqa_train.jsonl", medqaLines(rows.slice(2000, 2030))),
    },
    {
      task: "medmcqa",
      format: "medmcqa",
      suiteFormat: "medmcqa",
      file: medmcqa,
      fewshotFile: await write(
        "medmcqa_train.jsonl",
        rows
          .slice(1000, 1030)
          .map((row) => JSON.stringify(row))
          .join("\n"),
      ),
    },
    {
      task: "pubmedqa",
      format: "pubmedqa",
      suiteFormat: "pubmedqa",
      file: await write("pubmedqa_test_set.json", pubmedqaJson(withAbstract.slice(0, 40), 10_000_001)),
      fewshotFile: await write("pubmedqa_train.json", pubmedqaJson(withAbstract.slice(500, 530), 20_000_001)),
    },
  ];
  for (const subject of subjects) {
    const file = join(data, "mmlu", `${subject}_test.csv`);
    // A dev split the way MMLU ships one: five questions of the subject (here its last five test questions).
    const records = parseCsv(file, await readFile(file, "utf8"), (i) => `column ${i + 1}`);
    tasks.push({
      task: `mmlu_${subject}`,
      format: "mmlu",
      suiteFormat: "mmlu",
      subject: subject.replaceAll("_", " "),
      file,
      fewshotFile: await write(
        `${subject}_dev.csv`,
        csvText(records.slice(-5).map((record) => record.fields)),
      ),
    });
  }
  cases = tasks.flatMap(({ task, format, suiteFormat, file, fewshotFile, subject }) =>
    (
      [
        ["0shot", 0, null],
        ["5shot", 5, null],
        ["5shot_split", 5, fewshotFile],
      ] as const
    ).map(([kind, shots, fewshot]) => ({
      name: `${task}_${kind}`,
      task,
      format,
      suiteFormat,
      file,
      fewshot_file: fewshot,
      ...(subject ? { subject } : {}),
      shots,
      limit,
    })),
  );
  const started = performance.now();
  lmEval = await lmEvalPrompts(join(scratch, "lm-eval"), cases);
  console.info(
    `lm-eval ${lmEval.version}: ${cases.length} cases built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}, 300_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** medgate's scored items and their examples for one case: a suite with the case's file as its one benchmark. */
async function medgateItems(entry: Case) {
  const suitePath = join(scratch, `${entry.name}.suite.json`);
  const benchmark = {
    name: entry.name,
    format: entry.suiteFormat,
    path: entry.file,
    ...(entry.fewshot_file ? { fewshot: entry.fewshot_file } : {}),
  };
  await writeFile(suitePath, JSON.stringify({ name: entry.name, version: 1, benchmarks: [benchmark] }));
  return suiteItems(suitePath, { shots: entry.shots, limit: entry.limit });
}

describe("the lm-eval protocol against lm-evaluation-harness's own tasks", () => {
  const names = [
    "medqa_4options",
    "medmcqa",
    "pubmedqa",
    ...subjects.map((subject) => `mmlu_${subject}`),
  ].flatMap((task) => [`${task}_0shot`, `${task}_5shot`, `${task}_5shot_split`]);

  it.each(names)("%s: every context and continuation, character for character", async (name) => {
    const entry = cases.find((candidate) => candidate.name === name)!;
    const theirs = lmEval.cases[name]!;
    const { suite, scored, examples } = await medgateItems(entry);
    expect(suite.protocol).toBe("lm-eval");
    expect(theirs).toHaveLength(limit);
    expect(scored).toHaveLength(limit);
    scored.forEach((item, i) => {
      const request = theirs[i]!;
      expect(request.doc_id).toBe(i);
      expect(request.contexts).toEqual([request.context]);
      expect(lmEvalTaskName(item)).toBe(entry.task);
      const ours = itemPrompt(item, examples.get(item) ?? [], "lm-eval");
      expect(examples.get(item)).toHaveLength(entry.shots);
      expect(ours.prompt).toBe(request.context);
      expect(ours.continuations).toEqual(request.continuations);
    });
  });

  it.each(names.filter((name) => name.endsWith("_0shot")))(
    "%s, med42: lm-eval's zero-shot text as the chat turns, the answers' full texts",
    async (name) => {
      const entry = cases.find((candidate) => candidate.name === name)!;
      const { scored } = await medgateItems(entry);
      scored.forEach((item, i) => {
        const request = lmEval.cases[name]![i]!;
        const ours = itemPrompt(item, [], "med42");
        expect(ours.prompt).toEqual([
          ...(request.description ? [{ role: "system", content: request.description }] : []),
          { role: "user", content: request.doc_to_text },
        ]);
        expect(ours.continuations).toEqual(request.answers);
      });
    },
  );

  it("picks different examples per question where lm-eval samples them, the same first five for MMLU", async () => {
    const sampled = await medgateItems(cases.find((entry) => entry.name === "medmcqa_5shot")!);
    const picks = new Set(
      sampled.scored.map((item) =>
        sampled.examples
          .get(item)!
          .map((x) => x.id)
          .join(),
      ),
    );
    expect(picks.size).toBe(limit);
    const firstN = await medgateItems(cases.find((entry) => entry.name === "mmlu_anatomy_5shot_split")!);
    const fixed = new Set(
      firstN.scored.map((item) =>
        firstN.examples
          .get(item)!
          .map((x) => x.id)
          .join(),
      ),
    );
    expect(fixed.size).toBe(1);
  });
});
