// MedQA-USMLE reader: the fixture file, and malformed input named by file, line and field.
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  escapeRegExp,
  expectFormatError,
  fixtures,
  formatError,
  jsonl,
  useScratch,
} from "../../../test/support/benchmarkFiles.ts";
import { readMedQA } from "./medqa.ts";

const { temp } = useScratch();

describe("MedQA fixtures", () => {
  it("reads MedQA-USMLE 4-option JSON lines", async () => {
    const items = await readMedQA(join(fixtures, "medqa_sample.jsonl"));
    expect(items).toHaveLength(5);
    expect(items.map((item) => item.answer)).toEqual([0, 1, 2, 3, 1]);
    expect(items[0]!.source).toBe("medqa_sample.jsonl:1");
    expect(items[0]!.id).toMatch(/^[0-9a-f]{16}$/u);
    expect(items[0]!.benchmark).toBe("medqa");
    expect(items[1]!.choices).toEqual([
      "Squamous cell carcinoma of the lung",
      "Small cell carcinoma of the lung",
      "Bronchial carcinoid tumor",
      "Adenocarcinoma of the lung",
    ]);
  });
});

describe("MedQA malformed input", () => {
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
    // The same question twice: one content id, the repeat's marked -2.
    const repeated = await readMedQA(crlf);
    expect(repeated.map((item) => item.source)).toEqual([`${basename(crlf)}:2`, `${basename(crlf)}:4`]);
    expect(repeated.map((item) => item.id)).toEqual([repeated[0]!.id, `${repeated[0]!.id}-2`]);
    const blank = await temp("medqa.jsonl", "\n  \n");
    await expectFormatError(
      readMedQA(blank),
      { file: blank, line: 1, field: undefined },
      `${blank}:1: no items in the file`,
    );
  });
});
