// MMLU: CSV without a header, `question,A,B,C,D,answer letter`, one file per subject (`anatomy_test.csv`),
// parsed by csv-parse (RFC 4180) with errors that name the file, the record's first line and the column.
import { basename } from "node:path";
import { CsvError, parse } from "csv-parse/sync";
import {
  BenchmarkFormatError,
  fail,
  type McqItem,
  readText,
  requireOneOf,
  requireString,
  shown,
  type Where,
  withIds,
} from "./records.ts";

export type CsvRecord = { line: number; fields: string[] };

/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a quoted field may hold commas, line breaks
 * and doubled quotes. Empty lines are skipped. Each record carries the line it starts on; `columnName` names a
 * column in error messages.
 */
export function parseCsv(file: string, text: string, columnName: (index: number) => string): CsvRecord[] {
  const bytes = Buffer.from(text);
  const ends: number[] = [];
  /** The line a record starts on: the first line after `offset` (the previous record's end) that is not empty. */
  const startLine = (offset: number) => {
    let at = offset;
    while (bytes[at] === 0x0a || (bytes[at] === 0x0d && bytes[at + 1] === 0x0a))
      at += bytes[at] === 0x0d ? 2 : 1;
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    return line;
  };
  let fields: string[][];
  try {
    fields = parse(bytes, {
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (record: string[], context: { bytes: number }) => {
        ends.push(context.bytes);
        return record;
      },
    }) as string[][];
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const line = startLine(ends.at(-1) ?? 0);
    const column = columnName(Number((error as CsvError & { index?: number }).index ?? 0));
    throw new BenchmarkFormatError(file, line, column, csvProblem(error));
  }
  return fields.map((record, index) => ({ line: startLine(ends[index - 1] ?? 0), fields: record }));
}

/** csv-parse's reasons in the words of RFC 4180's rules. */
function csvProblem(error: CsvError): string {
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return "unterminated quoted field (no closing quote)";
    case "CSV_INVALID_CLOSING_QUOTE": {
      const got = /got "(.*)" at line/su.exec(error.message)?.[1] ?? "";
      return `unexpected ${shown(got)} after a closing quote (a quote inside a quoted field must be doubled)`;
    }
    case "INVALID_OPENING_QUOTE":
      return "a quote inside an unquoted field (RFC 4180 needs the field quoted)";
    default:
      return error.message;
  }
}

const mmluColumns = ["question", "A", "B", "C", "D", "answer"] as const;
const mmluLetters = ["A", "B", "C", "D"] as const;

/** `anatomy_test.csv` → `anatomy`. */
function mmluSubjectKey(path: string): string {
  return basename(path)
    .replace(/\.csv$/iu, "")
    .replace(/_(test|val|dev|validation)$/u, "");
}

/**
 * Reads one MMLU subject file. The subject comes from the file name (`clinical_knowledge_test.csv`), or from
 * `subject`; the benchmark is `mmlu_<subject>` and `subject` the readable name ("clinical knowledge").
 */
export async function readMmluCsv(path: string, subject?: string): Promise<McqItem[]> {
  const key = (subject ?? mmluSubjectKey(path)).trim().replaceAll(" ", "_");
  const records = parseCsv(
    path,
    await readText(path),
    (index) => mmluColumns[index] ?? `column ${index + 1}`,
  );
  const rows = records.map(({ line, fields }) => {
    const where: Where = { file: path, line };
    if (fields.length !== mmluColumns.length) {
      fail(
        where,
        undefined,
        `expected ${mmluColumns.length} columns (${mmluColumns.join(", ")}), got ${fields.length}`,
      );
    }
    const [question, ...choices] = fields
      .slice(0, 5)
      .map((value, index) => requireString(where, value, mmluColumns[index]!));
    const letter = requireOneOf(where, fields[5]!.trim(), "answer", mmluLetters);
    const item: Omit<McqItem, "id"> = {
      source: `${basename(path)}:${line}`,
      benchmark: `mmlu_${key}`,
      task: "mmlu",
      question: question!,
      choices,
      answer: mmluLetters.indexOf(letter),
      subject: key.replaceAll("_", " "),
    };
    return { where, item };
  });
  return withIds(path, rows, "source");
}
