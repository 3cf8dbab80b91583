// MedMCQA reader: the real dev file, the Hugging Face export, cop detection, malformed input.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  data,
  expectFormatError,
  fixtures,
  formatError,
  hasData,
  jsonl,
  useScratch,
} from "../../../test/support/benchmarkFiles.ts";
import { detectMedMCQACopBase, readMedMCQA } from "./medmcqa.ts";
import { contentId } from "./records.ts";

const { temp } = useScratch();

describe.skipIf(!hasData)("real MedMCQA dev file", () => {
  const file = join(data, "medmcqa", "dev.jsonl");

  it("reads all 4183 questions with 1-based cop, as the original release has it", async () => {
    expect(await detectMedMCQACopBase(file)).toBe("1-based");
    const items = await readMedMCQA(file, { cop: "1-based" });
    expect(items).toHaveLength(4183);
    expect(items[0]).toEqual({
      id: contentId(items[0]!),
      source: "45258d3d-b974-44dd-a161-c3fccbdadd88",
      benchmark: "medmcqa",
      task: "medmcqa",
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

describe("MedMCQA fixtures", () => {
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

describe("MedMCQA malformed input", () => {
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
});
