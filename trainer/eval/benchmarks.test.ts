import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BenchmarkFormatError,
  detectMedMCQACopBase,
  loadSuite,
  type McqItem,
  parseCsv,
  readBenchmark,
  readMedMCQA,
  readMedQA,
  readMmluCsv,
  readPubMedQA,
} from "./benchmarks.ts";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const suitePath = fileURLToPath(new URL("./suites/medical.json", import.meta.url));
// The real benchmark files live outside the repository (../shared/data/benchmarks from its root).
const data = fileURLToPath(new URL("../../../shared/data/benchmarks/", import.meta.url));
const hasData = existsSync(join(data, "medmcqa", "dev.jsonl")) && existsSync(join(data, "mmlu"));
if (!hasData)
  console.warn(`benchmarks.test.ts: ${data} is absent; skipping the tests on the real benchmark files`);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "medgate-benchmarks-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let counter = 0;
async function temp(name: string, content: string): Promise<string> {
  const dir = join(scratch, String(counter++));
  await mkdir(dir);
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** The error `read` throws, checked to be a BenchmarkFormatError. */
async function formatError(read: Promise<unknown>): Promise<BenchmarkFormatError> {
  const error = await read.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BenchmarkFormatError);
  return error as BenchmarkFormatError;
}

async function expectFormatError(
  read: Promise<unknown>,
  where: { file: string; line: number; field: string | undefined },
  message: string,
) {
  const error = await formatError(read);
  expect({ file: error.file, line: error.line, field: error.field }).toEqual(where);
  expect(error.message).toBe(message);
}

const jsonl = (rows: unknown[]) => `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`;

describe.skipIf(!hasData)("real MedMCQA dev file", () => {
  const file = join(data, "medmcqa", "dev.jsonl");

  it("reads all 4183 questions with 1-based cop, as the original release has it", async () => {
    expect(await detectMedMCQACopBase(file)).toBe("1-based");
    const items = await readMedMCQA(file, { cop: "1-based" });
    expect(items).toHaveLength(4183);
    expect(items[0]).toEqual({
      id: "45258d3d-b974-44dd-a161-c3fccbdadd88",
      benchmark: "medmcqa",
      question: "Which of the following is not true for myelinated nerve fibers:",
      choices: [
        "Impulse through myelinated fibers is slower than non-myelinated fibers",
        "Membrane currents are generated at nodes of Ranvier",
        "Saltatory conduction of impulses is seen",
        "Local anesthesia is effective only when the nerve is not covered by myelin sheath",
      ],
      // cop 1: the false statement, opa.
      answer: 0,
      subject: "Physiology",
    });
    const counts = [0, 0, 0, 0];
    for (const item of items) counts[item.answer]!++;
    expect(counts).toEqual([1348, 1085, 925, 825]);
    expect(new Set(items.map((item) => item.id)).size).toBe(4183);
    expect(await readMedMCQA(file, { cop: "auto" })).toEqual(items);
  });

  it("agrees with the explanations' own answer letters", async () => {
    // "Ans. b ..." in `exp` names the answer; with 1-based cop every such letter matches.
    const lines = (await readFile(file, "utf8")).split("\n").filter((line) => line.trim() !== "");
    const items = await readMedMCQA(file, { cop: "1-based" });
    let checked = 0;
    lines.forEach((line, i) => {
      const exp = (JSON.parse(line) as { exp: string | null }).exp ?? "";
      const match = /^\s*Ans(?:wer)?[\s.\-:]*(?:is\s*)?['"(]?\s*([a-dA-D])\b/u.exec(exp);
      if (!match) return;
      expect("abcd"[items[i]!.answer], `line ${i + 1}`).toBe(match[1]!.toLowerCase());
      checked++;
    });
    expect(checked).toBeGreaterThan(1000);
  });

  it("read as 0-based, fails at the first cop 4", async () => {
    await expectFormatError(
      readMedMCQA(file, { cop: "0-based" }),
      { file, line: 18, field: "cop" },
      `${file}:18: field "cop": must be 0..3 for 0-based cop (got 4); a 1-based file (the original release) is format "medmcqa" (cop: "1-based")`,
    );
  });
});

describe.skipIf(!hasData)("real MMLU medical CSVs", () => {
  // Rows per file, and one row (by its starting line) with a comma inside a quoted field.
  const files: { subject: string; rows: number; line: number; check: (item: McqItem) => void }[] = [
    {
      subject: "anatomy",
      rows: 135,
      line: 1,
      check: (item) => {
        expect(item.choices[2]).toBe("paralysis of the facial muscles, loss of taste and lacrimation.");
        expect(item.choices).toHaveLength(4);
      },
    },
    {
      subject: "clinical_knowledge",
      rows: 265,
      line: 11,
      check: (item) =>
        expect(item.choices[0]).toBe(
          "Blood type AB (rhesus negative), blood type B, and blood type O (rhesus negative).",
        ),
    },
    {
      subject: "college_biology",
      rows: 144,
      line: 1,
      check: (item) =>
        expect(item.question).toMatch(
          /^Based on the characteristic population curves that result from plotting population growth of a species, the most/u,
        ),
    },
    {
      subject: "college_medicine",
      rows: 173,
      line: 1,
      check: (item) => {
        expect(item.question).toMatch(
          /^A police officer carries out hundreds of traffic stops every year\. When/u,
        );
        expect(item.question).toContain("various genders, ages, and races.");
      },
    },
    {
      subject: "medical_genetics",
      rows: 100,
      line: 3,
      check: (item) =>
        expect(item.question).toContain("is .10 (one in ten), what will be the expected frequency"),
    },
    {
      subject: "professional_medicine",
      rows: 272,
      line: 1,
      check: (item) => {
        expect(item.question).toMatch(
          /^A 67-year-old woman comes to the physician for a follow-up examination\./u,
        );
        expect(item.question).toContain("inferior vena cava (IVC) filter");
      },
    },
  ];

  for (const { subject, rows, line, check } of files) {
    it(`${subject}: ${rows} rows, quoted commas kept inside their field`, async () => {
      const file = join(data, "mmlu", `${subject}_test.csv`);
      const items = await readMmluCsv(file);
      expect(items).toHaveLength(rows);
      for (const item of items) {
        expect(item.benchmark).toBe(`mmlu_${subject}`);
        expect(item.subject).toBe(subject.replaceAll("_", " "));
        expect(item.choices).toHaveLength(4);
        expect(item.answer).toBeGreaterThanOrEqual(0);
        expect(item.answer).toBeLessThan(4);
      }
      const item = items.find((candidate) => candidate.id === `${subject}_test.csv:${line}`);
      expect(item).toBeDefined();
      check(item!);
    });
  }

  it("numbers records by their first physical line across quoted line breaks and CRLF files", async () => {
    // college_medicine's third record spans lines 3-6; clinical_knowledge uses CRLF and has no final newline.
    const medicine = await readMmluCsv(join(data, "mmlu", "college_medicine_test.csv"));
    expect(medicine.slice(0, 4).map((item) => item.id)).toEqual([
      "college_medicine_test.csv:1",
      "college_medicine_test.csv:2",
      "college_medicine_test.csv:3",
      "college_medicine_test.csv:7",
    ]);
    expect(medicine[2]!.question).toContain("\n");
    expect(medicine.at(-1)!.id).toBe("college_medicine_test.csv:224");
    const clinical = await readMmluCsv(join(data, "mmlu", "clinical_knowledge_test.csv"));
    expect(clinical.at(-1)!.id).toBe("clinical_knowledge_test.csv:265");
    for (const item of clinical)
      for (const text of [item.question, ...item.choices]) expect(text).not.toMatch(/\r/u);
  });
});

describe.skipIf(!hasData)("the medical suite", () => {
  it("loads MedMCQA dev and the six MMLU medical subjects from suites/medical.json", async () => {
    const started = performance.now();
    const { suite, items } = await loadSuite(suitePath);
    const elapsed = performance.now() - started;
    expect(suite.name).toBe("medical");
    expect(suite.version).toBe(1);
    expect(Object.fromEntries([...items].map(([name, list]) => [name, list.length]))).toEqual({
      medmcqa: 4183,
      mmlu_clinical_knowledge: 265,
      mmlu_medical_genetics: 100,
      mmlu_anatomy: 135,
      mmlu_professional_medicine: 272,
      mmlu_college_biology: 144,
      mmlu_college_medicine: 173,
    });
    expect([...items.values()].flat()).toHaveLength(4183 + 1089);
    for (const [name, list] of items) for (const item of list) expect(item.benchmark).toBe(name);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe("fixtures", () => {
  it("reads MedQA-USMLE 4-option JSON lines", async () => {
    const items = await readMedQA(join(fixtures, "medqa_sample.jsonl"));
    expect(items).toHaveLength(5);
    expect(items.map((item) => item.answer)).toEqual([0, 1, 2, 3, 1]);
    expect(items[0]!.id).toBe("medqa_sample.jsonl:1");
    expect(items[0]!.benchmark).toBe("medqa");
    expect(items[1]!.choices).toEqual([
      "Squamous cell carcinoma of the lung",
      "Small cell carcinoma of the lung",
      "Bronchial carcinoid tumor",
      "Adenocarcinoma of the lung",
    ]);
  });

  it("reads the Hugging Face MedMCQA export with 0-based cop, and detects it", async () => {
    const file = join(fixtures, "medmcqa_hf_sample.jsonl");
    expect(await detectMedMCQACopBase(file)).toBe("0-based");
    const items = await readMedMCQA(file, { cop: "auto" });
    expect(items).toEqual(await readMedMCQA(file, { cop: "0-based" }));
    expect(items.map((item) => [item.choices[item.answer], item.subject])).toEqual([
      ["Axillary nerve", "Anatomy"],
      ["Ethosuximide", "Pharmacology"],
      ["Measles", "Pediatrics"],
      ["Small intestine", "Surgery"],
    ]);
    await expectFormatError(
      readMedMCQA(file, { cop: "1-based" }),
      { file, line: 2, field: "cop" },
      `${file}:2: field "cop": must be 1..4 for 1-based cop (got 0); a 0-based file (the Hugging Face export) is format "medmcqa-hf" (cop: "0-based")`,
    );
  });

  it("reads PubMedQA ori_pqal.json: contexts, then the question; yes/no/maybe", async () => {
    const items = await readPubMedQA(join(fixtures, "pubmedqa_ori_pqal_sample.json"));
    expect(items.map((item) => [item.id, item.answer])).toEqual([
      ["90000001", 0],
      ["90000002", 1],
      ["90000003", 2],
    ]);
    expect(items[0]!.choices).toEqual(["yes", "no", "maybe"]);
    expect(items[0]!.question).toBe(
      "Abstract: Readmission within 30 days is common after hospitalization for heart failure and may reflect gaps " +
        "in discharge planning. We compared 412 patients discharged with a structured checklist covering medication " +
        "reconciliation, weight monitoring and follow-up booking with 398 patients discharged before its introduction. " +
        "Thirty-day readmission fell from 24.1% to 16.8% (adjusted odds ratio 0.63, 95% CI 0.44-0.90).\n" +
        "Question: Does a structured discharge checklist reduce 30-day readmission after heart failure hospitalization?",
    );
  });

  it("reads the Hugging Face PubMedQA export the same way as the original", async () => {
    const original = await readPubMedQA(join(fixtures, "pubmedqa_ori_pqal_sample.json"), {
      layout: "original",
    });
    const hf = await readPubMedQA(join(fixtures, "pubmedqa_hf_sample.jsonl"));
    expect(hf).toEqual(original);
    expect(await readPubMedQA(join(fixtures, "pubmedqa_hf_sample.jsonl"), { layout: "hf" })).toEqual(
      original,
    );
    // A one-line ori_pqal.json is still told apart from JSON lines.
    const text = await readFile(join(fixtures, "pubmedqa_ori_pqal_sample.json"), "utf8");
    const compact = await temp("ori_pqal.json", JSON.stringify(JSON.parse(text)));
    expect(await readPubMedQA(compact)).toEqual(original);
  });

  it("reads each format through a spec, with the spec's name and limit", async () => {
    const read = (format: Parameters<typeof readBenchmark>[0]["format"], path: string, limit?: number) =>
      readBenchmark({ name: `pubmedqa_x_${format}`, format, path, limit }, fixtures);
    expect((await read("medqa", "medqa_sample.jsonl", 2)).map((item) => item.benchmark)).toEqual([
      "pubmedqa_x_medqa",
      "pubmedqa_x_medqa",
    ]);
    expect(await read("medmcqa-hf", "medmcqa_hf_sample.jsonl")).toHaveLength(4);
    expect(await read("pubmedqa", "pubmedqa_ori_pqal_sample.json")).toHaveLength(3);
    expect(await read("pubmedqa-hf", "pubmedqa_hf_sample.jsonl")).toHaveLength(3);
    await expect(read("medmcqa", "medmcqa_hf_sample.jsonl")).rejects.toThrow(/field "cop": must be 1\.\.4/u);
  });
});

describe("MedMCQA cop detection", () => {
  const row = (cop: number, id = `q${cop}-${Math.random()}`) => ({
    id,
    question: "Q?",
    opa: "a",
    opb: "b",
    opc: "c",
    opd: "d",
    cop,
    subject_name: "Medicine",
  });

  it("a cop of 4 means 1-based, a cop of 0 means 0-based", async () => {
    const oneBased = await temp("one.jsonl", jsonl([row(2), row(4), row(1)]));
    expect(await detectMedMCQACopBase(oneBased)).toBe("1-based");
    expect((await readMedMCQA(oneBased, { cop: "auto" })).map((item) => item.answer)).toEqual([1, 3, 0]);
    const zeroBased = await temp("zero.jsonl", jsonl([row(2), row(0), row(1)]));
    expect((await readMedMCQA(zeroBased, { cop: "auto" })).map((item) => item.answer)).toEqual([2, 0, 1]);
  });

  it("only 1..3 is ambiguous: the user must say which", async () => {
    const file = await temp("ambiguous.jsonl", jsonl([row(1), row(3), row(2)]));
    const error = await formatError(readMedMCQA(file, { cop: "auto" }));
    expect(error.field).toBe("cop");
    expect(error.message).toBe(
      `${file}:1: field "cop": all 3 items have cop in 1..3, so whether cop is 0-based or 1-based cannot be told ` +
        'from the file; say which: format "medmcqa" (cop: "1-based") for the original release, format "medmcqa-hf" ' +
        '(cop: "0-based") for the Hugging Face export (openlifescienceai/medmcqa)',
    );
    // Told explicitly, the same file reads.
    expect((await readMedMCQA(file, { cop: "1-based" })).map((item) => item.answer)).toEqual([0, 2, 1]);
  });

  it("both 0 and 4 in one file is an error", async () => {
    const file = await temp("mixed.jsonl", jsonl([row(2), row(4), row(1), row(0)]));
    await expectFormatError(
      readMedMCQA(file, { cop: "auto" }),
      { file, line: 4, field: "cop" },
      `${file}:4: field "cop": cop 0 here, but cop 4 at line 2 (1-based): the file mixes 0-based and 1-based answers`,
    );
  });

  it("out of range and wrong types name the line and field", async () => {
    const five = await temp("five.jsonl", jsonl([row(1), row(5)]));
    await expectFormatError(
      readMedMCQA(five, { cop: "auto" }),
      { file: five, line: 2, field: "cop" },
      `${five}:2: field "cop": must be 0..4 in any release (got 5)`,
    );
    await expectFormatError(
      readMedMCQA(five, { cop: "1-based" }),
      { file: five, line: 2, field: "cop" },
      `${five}:2: field "cop": must be 1..4 for 1-based cop (got 5); a 0-based file (the Hugging Face export) is format "medmcqa-hf" (cop: "0-based")`,
    );
    const text = await temp("text.jsonl", jsonl([row(1), { ...row(1), cop: "2" }]));
    await expectFormatError(
      readMedMCQA(text, { cop: "1-based" }),
      { file: text, line: 2, field: "cop" },
      `${text}:2: field "cop": must be an integer (got string "2")`,
    );
  });
});

describe("malformed input", () => {
  const medqa = (answerIdx: string, extra: Record<string, unknown> = {}) => ({
    question: "Which is right?",
    answer: { A: "one", B: "two", C: "three", D: "four" }[answerIdx] ?? "one",
    options: { A: "one", B: "two", C: "three", D: "four" },
    meta_info: "step1",
    answer_idx: answerIdx,
    ...extra,
  });

  it("MedQA: a bad answer letter", async () => {
    const rows = Array.from({ length: 11 }, () => medqa("B"));
    const file = await temp("medqa.jsonl", jsonl([...rows, medqa("E")]));
    await expectFormatError(
      readMedQA(file),
      { file, line: 12, field: "answer_idx" },
      `${file}:12: field "answer_idx": must be one of A, B, C, D (got "E")`,
    );
  });

  it("MedQA: answer text not the answer_idx option", async () => {
    const file = await temp("medqa.jsonl", jsonl([medqa("A"), medqa("C", { answer: "two" })]));
    await expectFormatError(
      readMedQA(file),
      { file, line: 2, field: "answer" },
      `${file}:2: field "answer": "two" is not option C ("three")`,
    );
  });

  it("MedQA: missing, empty and mistyped fields; options not A-D", async () => {
    const missing = await temp("medqa.jsonl", jsonl([{ ...medqa("A"), question: undefined }]));
    await expectFormatError(
      readMedQA(missing),
      { file: missing, line: 1, field: "question" },
      `${missing}:1: field "question": missing`,
    );
    const empty = await temp(
      "medqa.jsonl",
      jsonl([medqa("A"), { ...medqa("A"), options: { A: "one", B: " ", C: "x", D: "y" } }]),
    );
    await expectFormatError(
      readMedQA(empty),
      { file: empty, line: 2, field: "options.B" },
      `${empty}:2: field "options.B": must not be empty`,
    );
    const typed = await temp("medqa.jsonl", jsonl([{ ...medqa("A"), question: 42 }]));
    await expectFormatError(
      readMedQA(typed),
      { file: typed, line: 1, field: "question" },
      `${typed}:1: field "question": must be a string (got number 42)`,
    );
    const five = await temp(
      "medqa.jsonl",
      jsonl([{ ...medqa("A"), options: { A: "1", B: "2", C: "3", D: "4", E: "5" } }]),
    );
    await expectFormatError(
      readMedQA(five),
      { file: five, line: 1, field: "options" },
      `${five}:1: field "options": must have exactly the keys A, B, C, D (got A, B, C, D, E)`,
    );
    const list = await temp("medqa.jsonl", jsonl([{ ...medqa("A"), options: ["1", "2", "3", "4"] }]));
    await expectFormatError(
      readMedQA(list),
      { file: list, line: 1, field: "options" },
      `${list}:1: field "options": must be an object (got an array)`,
    );
  });

  it("JSON lines: bad JSON and non-objects name the physical line; blank lines are skipped", async () => {
    const good = JSON.stringify(medqa("A"));
    const file = await temp("medqa.jsonl", `${good}\n\n   \n${good}\r\n{"question": "Q", "options": \n`);
    const error = await formatError(readMedQA(file));
    expect(error.line).toBe(5);
    expect(error.field).toBeUndefined();
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(file)}:5: invalid JSON \\(`, "u"));
    const array = await temp("medqa.jsonl", `${good}\n\n[1, 2]\n`);
    await expectFormatError(
      readMedQA(array),
      { file: array, line: 3, field: undefined },
      `${array}:3: expected a JSON object (got an array)`,
    );
    // CRLF line ends and blank lines are fine.
    const crlf = await temp("medqa.jsonl", `\r\n${good}\r\n\r\n${good}\r\n`);
    expect((await readMedQA(crlf)).map((item) => item.id)).toEqual([
      `${basename(crlf)}:2`,
      `${basename(crlf)}:4`,
    ]);
    const blank = await temp("medqa.jsonl", "\n  \n");
    await expectFormatError(
      readMedQA(blank),
      { file: blank, line: 1, field: undefined },
      `${blank}:1: no items in the file`,
    );
  });

  it("MedMCQA: missing option, duplicate id", async () => {
    const base = { id: "a", question: "Q?", opa: "1", opb: "2", opc: "3", opd: "4", cop: 1 };
    const noOption = await temp("medmcqa.jsonl", jsonl([base, { ...base, id: "b", opc: undefined }]));
    await expectFormatError(
      readMedMCQA(noOption, { cop: "1-based" }),
      { file: noOption, line: 2, field: "opc" },
      `${noOption}:2: field "opc": missing`,
    );
    const duplicate = await temp("medmcqa.jsonl", jsonl([base, { ...base, id: "b" }, base]));
    await expectFormatError(
      readMedMCQA(duplicate, { cop: "1-based" }),
      { file: duplicate, line: 3, field: "id" },
      `${duplicate}:3: field "id": duplicate id "a" (first at line 1)`,
    );
  });

  it("PubMedQA original: the line of the bad field inside the PMID's object", async () => {
    const original = JSON.parse(
      await readFile(join(fixtures, "pubmedqa_ori_pqal_sample.json"), "utf8"),
    ) as Record<string, Record<string, unknown>>;
    original["90000002"]!.final_decision = "perhaps";
    const file = await temp("ori_pqal.json", JSON.stringify(original, null, 4));
    await expectFormatError(
      readPubMedQA(file),
      { file, line: 45, field: "final_decision" },
      `${file}:45: field "final_decision": must be one of yes, no, maybe (got "perhaps")`,
    );
    original["90000002"]!.final_decision = "no";
    original["90000003"]!.CONTEXTS = ["fine", 7];
    const contexts = await temp("ori_pqal.json", JSON.stringify(original, null, 4));
    await expectFormatError(
      readPubMedQA(contexts),
      { file: contexts, line: 50, field: "CONTEXTS[1]" },
      `${contexts}:50: field "CONTEXTS[1]": must be a string (got number 7)`,
    );
    const broken = await temp(
      "ori_pqal.json",
      '{\n  "1": {"QUESTION": "q",\n  "CONTEXTS": ["c"] "final_decision": "yes"}\n}\n',
    );
    const error = await formatError(readPubMedQA(broken, { layout: "original" }));
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(broken)}:3: invalid JSON`, "u"));
    const repeated = await temp(
      "ori_pqal.json",
      '{\n"1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes"},\n"1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "no"}\n}\n',
    );
    await expectFormatError(
      readPubMedQA(repeated),
      { file: repeated, line: 3, field: "PMID" },
      `${repeated}:3: field "PMID": duplicate key "1" (first at line 2)`,
    );
  });

  it("PubMedQA Hugging Face export: missing contexts, bad decision", async () => {
    const good = {
      pubid: 1,
      question: "q?",
      context: { contexts: ["c"] },
      long_answer: "l",
      final_decision: "yes",
    };
    const file = await temp("pqa.jsonl", jsonl([good, { ...good, pubid: 2, context: { labels: [] } }]));
    await expectFormatError(
      readPubMedQA(file),
      { file, line: 2, field: "context.contexts" },
      `${file}:2: field "context.contexts": missing`,
    );
    const decision = await temp("pqa.jsonl", jsonl([{ ...good, final_decision: "Yes" }]));
    await expectFormatError(
      readPubMedQA(decision, { layout: "hf" }),
      { file: decision, line: 1, field: "final_decision" },
      `${decision}:1: field "final_decision": must be one of yes, no, maybe (got "Yes")`,
    );
  });

  it("MMLU CSV: wrong column count, bad letter, empty field, unterminated quote, stray quotes", async () => {
    const columns = await temp("anatomy_test.csv", 'Q1,a,b,c,d,A\n"Q2, with comma",a,b,c,B\nQ3,a,b,c,d,C\n');
    await expectFormatError(
      readMmluCsv(columns),
      { file: columns, line: 2, field: undefined },
      `${columns}:2: expected 6 columns (question, A, B, C, D, answer), got 5`,
    );
    const letter = await temp("anatomy_test.csv", "Q1,a,b,c,d,A\n\nQ3,a,b,c,d,E\n");
    await expectFormatError(
      readMmluCsv(letter),
      { file: letter, line: 3, field: "answer" },
      `${letter}:3: field "answer": must be one of A, B, C, D (got "E")`,
    );
    const empty = await temp("anatomy_test.csv", "Q1,a,,c,d,A\n");
    await expectFormatError(
      readMmluCsv(empty),
      { file: empty, line: 1, field: "B" },
      `${empty}:1: field "B": must not be empty`,
    );
    const unterminated = await temp("anatomy_test.csv", 'Q1,a,b,c,d,A\nQ2,a,"b,\nc,d,B\nQ3,a,b,c,d,C\n');
    await expectFormatError(
      readMmluCsv(unterminated),
      { file: unterminated, line: 2, field: "B" },
      `${unterminated}:2: field "B": unterminated quoted field (no closing quote)`,
    );
    const afterQuote = await temp("anatomy_test.csv", 'Q1,"a" b,b,c,d,A\n');
    await expectFormatError(
      readMmluCsv(afterQuote),
      { file: afterQuote, line: 1, field: "A" },
      `${afterQuote}:1: field "A": unexpected " " after a closing quote (a quote inside a quoted field must be doubled)`,
    );
    const bare = await temp("anatomy_test.csv", 'Q1 "quoted",a,b,c,d,A\n');
    await expectFormatError(
      readMmluCsv(bare),
      { file: bare, line: 1, field: "question" },
      `${bare}:1: field "question": a quote inside an unquoted field (RFC 4180 needs the field quoted)`,
    );
  });

  it("MMLU CSV: RFC 4180 quoting, line breaks in quotes, CRLF, subject from the file name", async () => {
    const file = await temp(
      "clinical_knowledge_test.csv",
      '\uFEFF"He said ""stop"", then left",a,"b, c","multi\r\nline",d,D\r\n\r\nQ2,a,b,c,"",A',
    );
    const error = await formatError(readMmluCsv(file));
    expect(error.message).toBe(`${file}:4: field "D": must not be empty`);
    const good = await temp(
      "clinical_knowledge_test.csv",
      '"He said ""stop"", then left",a,"b, c","multi\r\nline",d,D\r\n\r\nQ2,a,b,c,x,A',
    );
    const items = await readMmluCsv(good);
    expect(items).toEqual([
      {
        id: `${basename(good)}:1`,
        benchmark: "mmlu_clinical_knowledge",
        question: 'He said "stop", then left',
        choices: ["a", "b, c", "multi\r\nline", "d"],
        answer: 3,
        subject: "clinical knowledge",
      },
      {
        id: `${basename(good)}:4`,
        benchmark: "mmlu_clinical_knowledge",
        question: "Q2",
        choices: ["a", "b", "c", "x"],
        answer: 0,
        subject: "clinical knowledge",
      },
    ]);
    expect((await readMmluCsv(good, "virology"))[0]!.benchmark).toBe("mmlu_virology");
  });

  it("parseCsv: empty fields, trailing comma, a quoted field at the end of the text", () => {
    const name = (i: number) => `c${i}`;
    expect(parseCsv("x.csv", 'a,,b,\n"",x\n\n"last"', name)).toEqual([
      { line: 1, fields: ["a", "", "b", ""] },
      { line: 2, fields: ["", "x"] },
      { line: 4, fields: ["last"] },
    ]);
    expect(parseCsv("x.csv", "", name)).toEqual([]);
  });
});

describe("suites", () => {
  /** Suite files go in one folder, `<scratch>/suites`, which their relative paths start from. */
  async function suiteFile(content: unknown): Promise<string> {
    const dir = join(scratch, "suites");
    await mkdir(dir, { recursive: true });
    const path = join(dir, `suite-${counter++}.json`);
    await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  }
  const fixturePath = (name: string) => relative(join(scratch, "suites"), join(fixtures, name));

  it("resolves paths against the suite file's folder and keeps the suite's order", async () => {
    const file = await suiteFile({
      name: "fixtures",
      version: 3,
      benchmarks: [
        { name: "pubmedqa", format: "pubmedqa", path: fixturePath("pubmedqa_ori_pqal_sample.json") },
        { name: "medqa", format: "medqa", path: fixturePath("medqa_sample.jsonl"), limit: 2 },
        { name: "medmcqa_hf", format: "medmcqa-hf", path: fixturePath("medmcqa_hf_sample.jsonl") },
        { name: "pubmedqa_hf", format: "pubmedqa-hf", path: fixturePath("pubmedqa_hf_sample.jsonl") },
      ],
    });
    const { suite, items } = await loadSuite(file);
    expect(suite).toMatchObject({ name: "fixtures", version: 3 });
    expect([...items].map(([name, list]) => [name, list.length])).toEqual([
      ["pubmedqa", 3],
      ["medqa", 2],
      ["medmcqa_hf", 4],
      ["pubmedqa_hf", 3],
    ]);
  });

  it("a bad field fails with its path, the problem and the value", async () => {
    const file = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [
        { name: "a", format: "medqa", path: "x.jsonl" },
        { name: "b", format: "mmlu-csv", path: "y.csv", limt: 5 },
        { name: "c", format: "mmlu", path: "z.csv", limit: 0 },
      ],
    });
    const error = await loadSuite(file).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    const message = error!.message;
    expect(message).toMatch(new RegExp(`^suite ${escapeRegExp(file)} is invalid:\n`, "u"));
    expect(message).toMatch(
      / {2}benchmarks\[1\]\.format: Invalid option: expected one of .*"mmlu".* \(got "mmlu-csv"\)/u,
    );
    expect(message).toMatch(/ {2}benchmarks\[1\]: Unrecognized key: "limt"/u);
    expect(message).toMatch(/ {2}benchmarks\[2\]\.limit: .*\(got 0\)/u);
  });

  it("duplicate names, a PubMedQA name the scorer would not recognise, wrong top-level types", async () => {
    const duplicate = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [
        { name: "a", format: "medqa", path: "x.jsonl" },
        { name: "a", format: "medqa", path: "y.jsonl" },
        { name: "pqa", format: "pubmedqa", path: "z.json" },
      ],
    });
    await expect(loadSuite(duplicate)).rejects.toThrow(/benchmarks\[1\]\.name: duplicate name "a"/u);
    await expect(loadSuite(duplicate)).rejects.toThrow(/benchmarks\[2\]\.name: must start with "pubmedqa"/u);
    const version = await suiteFile({ name: "s", version: "1", benchmarks: [] });
    const error = await loadSuite(version).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error!.message).toMatch(/ {2}version: .*expected number.*\(got "1"\)/u);
    expect(error!.message).toMatch(/ {2}benchmarks: must name at least one benchmark/u);
  });

  it("bad JSON, a missing benchmark file, a malformed benchmark file", async () => {
    const broken = await suiteFile('{"name": "s",');
    await expect(loadSuite(broken)).rejects.toThrow(new RegExp(`^suite ${escapeRegExp(broken)}: `, "u"));
    const missing = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [{ name: "m", format: "medqa", path: "nope.jsonl" }],
    });
    await expect(loadSuite(missing)).rejects.toThrow(
      new RegExp(`^suite ${escapeRegExp(missing)}: benchmark "m": ENOENT`, "u"),
    );
    const bad = await temp("bad.jsonl", '{"question": "q"}\n');
    const malformed = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [{ name: "m", format: "medqa", path: relative(join(scratch, "suites"), bad) }],
    });
    await expect(loadSuite(malformed)).rejects.toThrow(`${bad}:1: field "options": missing`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&");
}
