// PubMedQA in the file's order, as lm-evaluation-harness reads it: test_set.json is one object keyed by PMID,
// and the PMIDs are not sorted in it. A parsed JavaScript object would enumerate them in ascending numeric
// order; Python's json keeps the text's. So the order of the questions, the first N that `eval run --limit N`
// scores and the 5-shot examples (drawn by position) are checked against lm-eval's own task objects
// (test/support/lmeval_prompts.py, no model) on a file whose PMIDs are out of order.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPubMedQA } from "../../trainer/eval/benchmarks/pubmedqa.ts";
import { suiteItems } from "../../trainer/eval/evalRun.ts";
import { itemPrompt } from "../../trainer/eval/protocols.ts";
import { data, hasData } from "../support/benchmarkFiles.ts";
import { type LmEvalPrompt, type LmEvalPromptCase, lmEvalPrompts } from "../support/lmEvalHarness.ts";

const questions = 36;
const limit = 12;

/**
 * `count` distinct PMIDs of 7 and 8 digits in no order, beginning as the original test_set.json does
 * (12377809, 26163474, 19100463).
 */
function unsortedPmids(count: number, salt: number): string[] {
  const pmids = new Set(salt === 0 ? ["12377809", "26163474", "19100463"] : []);
  for (let i = 1; pmids.size < count; i++) {
    pmids.add(String(7_000_000 + ((i * 2_654_435_761 + salt) % 23_000_000)));
  }
  return [...pmids];
}

type MedMCQARow = { question: string; exp: string | null };

/**
 * MedMCQA dev questions with their explanations as abstracts, in PubMedQA's test_set.json layout, written as
 * text so that the keys keep `pmids`' order (JSON.stringify of an object would sort them).
 */
function testSetText(rows: MedMCQARow[], pmids: string[]): string {
  const decisions = ["yes", "no", "maybe"];
  const entries = rows.map((row, i) => {
    const contexts = (row.exp ?? "").split(/(?<=\.)\s+|\n+/u).filter((part) => part.trim() !== "");
    const record = {
      QUESTION: row.question,
      CONTEXTS: contexts,
      LABELS: contexts.map(() => "BACKGROUND"),
      MESHES: [],
      final_decision: decisions[i % 3],
      LONG_ANSWER: contexts.at(-1),
    };
    return ` ${JSON.stringify(pmids[i])}: ${JSON.stringify(record, null, 1).replaceAll("\n", "\n ")}`;
  });
  return `{\n${entries.join(",\n")}\n}\n`;
}

let scratch: string;
let pmids: string[];
let cases: Record<"all_0shot" | "limit_0shot" | "limit_5shot" | "limit_5shot_split", LmEvalPromptCase>;
let lmEval: Record<string, LmEvalPrompt[]>;

beforeAll(async () => {
  if (!hasData) throw new Error(`${data} is absent: this test writes real questions as PubMedQA files.`);
  scratch = await mkdtemp(join(tmpdir(), "medgate-pubmedqa-order-"));
  const rows = (await readFile(join(data, "medmcqa", "dev.jsonl"), "utf8"))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as MedMCQARow)
    .filter((row) => (row.exp ?? "").trim() !== "");
  pmids = unsortedPmids(questions, 0);
  const file = join(scratch, "test_set.json");
  await writeFile(file, testSetText(rows.slice(0, questions), pmids));
  const fewshotFile = join(scratch, "train_set.json");
  await writeFile(fewshotFile, testSetText(rows.slice(600, 624), unsortedPmids(24, 97)));
  const of = (name: string, shots: number, count: number, fewshot: string | null): LmEvalPromptCase => ({
    name: `pubmedqa_${name}`,
    task: "pubmedqa",
    format: "pubmedqa",
    file,
    fewshot_file: fewshot,
    shots,
    limit: count,
  });
  cases = {
    all_0shot: of("all_0shot", 0, questions, null),
    limit_0shot: of("limit_0shot", 0, limit, null),
    limit_5shot: of("limit_5shot", 5, limit, null),
    limit_5shot_split: of("limit_5shot_split", 5, limit, fewshotFile),
  };
  lmEval = (await lmEvalPrompts(join(scratch, "lm-eval"), Object.values(cases))).cases;
}, 300_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** What `eval run` scores for a case: a suite with the case's file as its one benchmark, `--limit` and shots. */
async function medgateItems(entry: LmEvalPromptCase) {
  const suitePath = join(scratch, `${entry.name}.suite.json`);
  const benchmark = {
    name: entry.name,
    format: "pubmedqa",
    path: entry.file,
    ...(entry.fewshot_file ? { fewshot: entry.fewshot_file } : {}),
  };
  await writeFile(suitePath, JSON.stringify({ name: entry.name, version: 1, benchmarks: [benchmark] }));
  return suiteItems(suitePath, { shots: entry.shots, limit: entry.limit });
}

/** The PMIDs of the questions whose prompt or continuations differ from lm-eval's request at the same place. */
async function differingFromLmEval(entry: LmEvalPromptCase): Promise<string[]> {
  const theirs = lmEval[entry.name]!;
  const { scored, examples } = await medgateItems(entry);
  expect(scored).toHaveLength(entry.limit);
  expect(theirs).toHaveLength(entry.limit);
  return scored.flatMap((item, i) => {
    const ours = itemPrompt(item, examples.get(item) ?? [], "lm-eval");
    expect(examples.get(item)).toHaveLength(entry.shots);
    const request = theirs[i]!;
    const same =
      ours.prompt === request.context && ours.continuations.join() === request.continuations.join();
    return same ? [] : [item.source];
  });
}

describe("PubMedQA in the file's order, as lm-evaluation-harness reads it", () => {
  it("reads the questions in the order of the text's PMIDs, not in ascending numeric order", async () => {
    const sorted = [...pmids].sort((a, b) => Number(a) - Number(b));
    expect(pmids).not.toEqual(sorted);
    const items = await readPubMedQA(cases.all_0shot.file);
    const outOfPlace = items.filter((item, i) => item.source !== pmids[i]).length;
    expect(outOfPlace, `${outOfPlace} of ${questions} questions out of the file's place`).toBe(0);
  });

  it("every question in lm-eval's order", async () => {
    const differing = await differingFromLmEval(cases.all_0shot);
    expect(differing, `${differing.length} of ${questions} prompts differ from lm-eval's`).toEqual([]);
  });

  it(`--limit ${limit} scores the file's first ${limit} questions, lm-eval's first ${limit}`, async () => {
    const { scored } = await medgateItems(cases.limit_0shot);
    const theirs = new Set(lmEval[cases.limit_0shot.name]!.map((request) => request.context));
    const shared = scored.filter((item) =>
      theirs.has(itemPrompt(item, [], "lm-eval").prompt as string),
    ).length;
    expect(shared, `${shared} of ${limit} questions shared with lm_eval --limit ${limit}`).toBe(limit);
    expect(scored.map((item) => item.source)).toEqual(pmids.slice(0, limit));
    const differing = await differingFromLmEval(cases.limit_0shot);
    expect(differing, `${differing.length} of ${limit} prompts differ from lm-eval's`).toEqual([]);
  });

  it.each(["limit_5shot", "limit_5shot_split"] as const)(
    "%s: lm-eval's 5-shot prompts, its examples drawn from the file in its order",
    async (name) => {
      const entry = cases[name];
      const differing = await differingFromLmEval(entry);
      expect(differing, `${differing.length} of ${limit} 5-shot prompts differ from lm-eval's`).toEqual([]);
      // Sampled per question, not one fixed set: the order of the pool decides every pick.
      const { scored, examples } = await medgateItems(entry);
      const picks = new Set(
        scored.map((item) =>
          examples
            .get(item)!
            .map((example) => example.source)
            .join(),
        ),
      );
      expect(picks.size).toBeGreaterThan(1);
    },
  );
});
