// MMLU CSV reader: the real medical subjects, RFC 4180 quoting, and malformed CSV named by line and column.
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  data,
  expectFormatError,
  formatError,
  hasData,
  useScratch,
} from "../../../test/support/benchmarkFiles.ts";
import { parseCsv, readMmluCsv } from "./mmlu.ts";
import { contentId, type McqItem } from "./records.ts";

const { temp } = useScratch();

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
      const item = items.find((candidate) => candidate.source === `${subject}_test.csv:${line}`);
      expect(item).toBeDefined();
      check(item!);
    });
  }

  it("numbers records by their first physical line across quoted line breaks and CRLF files", async () => {
    // college_medicine's third record spans lines 3-6; clinical_knowledge uses CRLF and has no final newline.
    const medicine = await readMmluCsv(join(data, "mmlu", "college_medicine_test.csv"));
    expect(medicine.slice(0, 4).map((item) => item.source)).toEqual([
      "college_medicine_test.csv:1",
      "college_medicine_test.csv:2",
      "college_medicine_test.csv:3",
      "college_medicine_test.csv:7",
    ]);
    expect(medicine[2]!.question).toContain("\n");
    expect(medicine.at(-1)!.source).toBe("college_medicine_test.csv:224");
    const clinical = await readMmluCsv(join(data, "mmlu", "clinical_knowledge_test.csv"));
    expect(clinical.at(-1)!.source).toBe("clinical_knowledge_test.csv:265");
    for (const item of clinical)
      for (const text of [item.question, ...item.choices]) expect(text).not.toMatch(/\r/u);
  });
});

describe("MMLU malformed input", () => {
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
        id: contentId(items[0]!),
        source: `${basename(good)}:1`,
        benchmark: "mmlu_clinical_knowledge",
        task: "mmlu",
        question: 'He said "stop", then left',
        choices: ["a", "b, c", "multi\r\nline", "d"],
        answer: 3,
        subject: "clinical knowledge",
      },
      {
        id: contentId(items[1]!),
        source: `${basename(good)}:4`,
        benchmark: "mmlu_clinical_knowledge",
        task: "mmlu",
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
