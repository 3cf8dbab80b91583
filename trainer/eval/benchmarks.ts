// Readers for the public medical multiple-choice benchmarks (MedQA-USMLE, MedMCQA, PubMedQA, MMLU) in
// their released file formats, and benchmark suites: a JSON file naming several of them. Every reader
// checks each record and fails with the file, the 1-based physical line and the field at fault.
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { z } from "zod";

/** One multiple-choice question. */
export type McqItem = {
  /** Stable id within its benchmark (the file's own id where it has one, else `<file basename>:<line>`). */
  id: string;
  /** e.g. "medmcqa", "medqa", "pubmedqa", "mmlu_anatomy". */
  benchmark: string;
  /** For PubMedQA: `Abstract: <contexts joined>\nQuestion: <question>`. */
  question: string;
  /** Answer texts, in order. */
  choices: string[];
  /** 0-based index of the correct choice. */
  answer: number;
  subject?: string;
};

/** A malformed benchmark file: `file:line: field "name": problem`. */
export class BenchmarkFormatError extends Error {
  override name = "BenchmarkFormatError";
  readonly file: string;
  /** 1-based physical line (for CSV: where the record starts). */
  readonly line: number;
  /** The field at fault; undefined where the problem is the line itself (bad JSON, wrong column count). */
  readonly field: string | undefined;

  constructor(file: string, line: number, field: string | undefined, problem: string) {
    super(`${file}:${line}: ${field === undefined ? "" : `field "${field}": `}${problem}`);
    this.file = file;
    this.line = line;
    this.field = field;
  }
}

export type BenchmarkFormat = "medqa" | "medmcqa" | "medmcqa-hf" | "pubmedqa" | "pubmedqa-hf" | "mmlu";

export type BenchmarkSpec = {
  /** The benchmark's name in results (every item's `benchmark`); unique within a suite. */
  name: string;
  format: BenchmarkFormat;
  /** Relative paths resolve against the suite file's folder. */
  path: string;
  /** Keep only the first `limit` items. */
  limit?: number;
};

export type Suite = { name: string; version: number; benchmarks: BenchmarkSpec[] };

/** How MedMCQA's `cop` counts: the original release is 1-based (1 = opa), the Hugging Face export 0-based. */
export type CopBase = "1-based" | "0-based";

// ---------------------------------------------------------------------------------------------------------
// Field checks

type JsonObject = Record<string, unknown>;

/** Where a record sits: its line, and where known the line of each of its fields. */
type Where = { file: string; line: number; fieldLines?: Map<string, number> };

function fail(where: Where, field: string | undefined, problem: string): never {
  const key = field?.split(/[.[]/u)[0];
  const line = (key === undefined ? undefined : where.fieldLines?.get(key)) ?? where.line;
  throw new BenchmarkFormatError(where.file, line, field, problem);
}

function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${shown(value)}`;
}

function requireString(where: Where, value: unknown, field: string): string {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (typeof value !== "string") fail(where, field, `must be a string (got ${typeName(value)})`);
  if (value.trim() === "") fail(where, field, "must not be empty");
  return value;
}

function requireObject(where: Where, value: unknown, field: string): JsonObject {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (!isObject(value)) fail(where, field, `must be an object (got ${typeName(value)})`);
  return value;
}

function requireStrings(where: Where, value: unknown, field: string): string[] {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (!Array.isArray(value)) fail(where, field, `must be an array of strings (got ${typeName(value)})`);
  if (value.length === 0) fail(where, field, "must not be empty");
  return value.map((entry, i) => requireString(where, entry, `${field}[${i}]`));
}

function requireOneOf<T extends string>(
  where: Where,
  value: unknown,
  field: string,
  allowed: readonly T[],
): T {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    fail(where, field, `must be one of ${allowed.join(", ")} (got ${shown(value)})`);
  }
  return value as T;
}

/** The record's own id (`field`) where it has one, else `<file basename>:<line>`. */
function ownId(where: Where, record: JsonObject, field: string): string {
  const value = record[field];
  if (value === undefined || value === null) return `${basename(where.file)}:${where.line}`;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  return requireString(where, value, field);
}

/** Fails on a repeated id: results are stored and paired per (benchmark, id). */
function checkUniqueIds(file: string, rows: { where: Where; item: McqItem }[], field: string): void {
  const seen = new Map<string, number>();
  for (const { where, item } of rows) {
    const first = seen.get(item.id);
    if (first !== undefined) fail(where, field, `duplicate id ${shown(item.id)} (first at line ${first})`);
    seen.set(item.id, where.line);
  }
  if (rows.length === 0) throw new BenchmarkFormatError(file, 1, undefined, "no items in the file");
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

async function readText(path: string): Promise<string> {
  return stripBom(await readFile(path, "utf8"));
}

// ---------------------------------------------------------------------------------------------------------
// JSON lines

type JsonLine = { where: Where; record: JsonObject };

function parseJsonLines(file: string, text: string): JsonLine[] {
  const rows: JsonLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    const where: Where = { file, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      fail(where, undefined, `invalid JSON (${(error as Error).message})`);
    }
    if (!isObject(value)) fail(where, undefined, `expected a JSON object (got ${typeName(value)})`);
    rows.push({ where, record: value });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// MedQA-USMLE, 4 options (data_clean/questions/US/4_options/phrases_no_exclude_*.jsonl, and the Hugging Face
// exports of it): {"question", "answer", "options": {"A".."D"}, "meta_info", "answer_idx", ...}

const medqaLetters = ["A", "B", "C", "D"] as const;

export async function readMedQA(path: string): Promise<McqItem[]> {
  const rows = parseJsonLines(path, await readText(path)).map(({ where, record }) => {
    const question = requireString(where, record.question, "question");
    const options = requireObject(where, record.options, "options");
    const keys = Object.keys(options);
    if (keys.length !== 4 || !medqaLetters.every((letter) => keys.includes(letter))) {
      fail(where, "options", `must have exactly the keys A, B, C, D (got ${keys.join(", ") || "none"})`);
    }
    const choices = medqaLetters.map((letter) => requireString(where, options[letter], `options.${letter}`));
    const letter = requireOneOf(where, record.answer_idx, "answer_idx", medqaLetters);
    const answer = medqaLetters.indexOf(letter);
    if (record.answer !== undefined && record.answer !== null) {
      const text = requireString(where, record.answer, "answer");
      if (text.trim() !== choices[answer]!.trim()) {
        fail(where, "answer", `${shown(text)} is not option ${letter} (${shown(choices[answer])})`);
      }
    }
    const item: McqItem = { id: ownId(where, record, "id"), benchmark: "medqa", question, choices, answer };
    return { where, item };
  });
  checkUniqueIds(path, rows, "id");
  return rows.map((row) => row.item);
}

// ---------------------------------------------------------------------------------------------------------
// MedMCQA: {"id", "question", "opa".."opd", "cop", "choice_type", "exp", "subject_name", "topic_name"}

const medmcqaOptions = ["opa", "opb", "opc", "opd"] as const;

const copHelp =
  'say which: format "medmcqa" (cop: "1-based") for the original release, format "medmcqa-hf" (cop: "0-based") ' +
  "for the Hugging Face export (openlifescienceai/medmcqa)";

function copOf(where: Where, record: JsonObject): number {
  const cop = record.cop;
  if (cop === undefined || cop === null) fail(where, "cop", "missing");
  if (typeof cop !== "number" || !Number.isInteger(cop))
    fail(where, "cop", `must be an integer (got ${typeName(cop)})`);
  return cop;
}

/**
 * The base of a MedMCQA file's `cop`, decided from its values: a 0 means 0-based, a 4 means 1-based. Fails
 * where both appear (the file mixes the two) and where neither does (only 1..3: ambiguous).
 */
function detectCopBase(file: string, rows: JsonLine[]): CopBase {
  let zero: Where | undefined;
  let four: Where | undefined;
  for (const { where, record } of rows) {
    const cop = copOf(where, record);
    if (cop < 0 || cop > 4) fail(where, "cop", `must be 0..4 in any release (got ${cop})`);
    if (cop === 0) zero ??= where;
    if (cop === 4) four ??= where;
    if (zero && four) {
      fail(
        where,
        "cop",
        `cop ${cop} here, but ${cop === 0 ? `cop 4 at line ${four.line} (1-based)` : `cop 0 at line ${zero.line} (0-based)`}: ` +
          "the file mixes 0-based and 1-based answers",
      );
    }
  }
  if (zero) return "0-based";
  if (four) return "1-based";
  if (rows.length === 0) throw new BenchmarkFormatError(file, 1, undefined, "no items in the file");
  fail(
    rows[0]!.where,
    "cop",
    `all ${rows.length} items have cop in 1..3, so whether cop is 0-based or 1-based cannot be told from the file; ${copHelp}`,
  );
}

/** Which base `cop` has in a MedMCQA file (see readMedMCQA's `auto`). */
export async function detectMedMCQACopBase(path: string): Promise<CopBase> {
  return detectCopBase(path, parseJsonLines(path, await readText(path)));
}

/**
 * Reads MedMCQA JSON lines. `cop` is 1-based (1 = opa) in the original release and 0-based in the Hugging Face
 * export; `auto` decides per file: a cop of 0 means 0-based, a cop of 4 means 1-based, and a file with both,
 * or with neither, is an error.
 */
export async function readMedMCQA(path: string, options: { cop: CopBase | "auto" }): Promise<McqItem[]> {
  const records = parseJsonLines(path, await readText(path));
  const base = options.cop === "auto" ? detectCopBase(path, records) : options.cop;
  const offset = base === "1-based" ? 1 : 0;
  const rows = records.map(({ where, record }) => {
    const question = requireString(where, record.question, "question");
    const choices = medmcqaOptions.map((field) => requireString(where, record[field], field));
    const cop = copOf(where, record);
    if (cop < offset || cop > offset + 3) {
      const other =
        base === "1-based"
          ? 'a 0-based file (the Hugging Face export) is format "medmcqa-hf" (cop: "0-based")'
          : 'a 1-based file (the original release) is format "medmcqa" (cop: "1-based")';
      fail(where, "cop", `must be ${offset}..${offset + 3} for ${base} cop (got ${cop}); ${other}`);
    }
    const item: McqItem = {
      id: ownId(where, record, "id"),
      benchmark: "medmcqa",
      question,
      choices,
      answer: cop - offset,
    };
    const subject = record.subject_name;
    if (subject !== undefined && subject !== null)
      item.subject = requireString(where, subject, "subject_name");
    return { where, item };
  });
  checkUniqueIds(path, rows, "id");
  return rows.map((row) => row.item);
}

// ---------------------------------------------------------------------------------------------------------
// PubMedQA: ori_pqal.json / test_set.json (one object keyed by PMID: {"QUESTION", "CONTEXTS", "LABELS",
// "MESHES", "final_decision", "LONG_ANSWER", ...}), or the Hugging Face export (qiaojin/PubMedQA, pqa_labeled)
// as JSON lines: {"pubid", "question", "context": {"contexts", "labels", "meshes"}, "long_answer", "final_decision"}

const pubmedqaChoices = ["yes", "no", "maybe"] as const;

export type PubMedQALayout = "original" | "hf";

function pubmedqaItem(
  id: string,
  contexts: string[],
  question: string,
  decision: (typeof pubmedqaChoices)[number],
) {
  const item: McqItem = {
    id,
    benchmark: "pubmedqa",
    question: `Abstract: ${contexts.join(" ")}\nQuestion: ${question}`,
    choices: [...pubmedqaChoices],
    answer: pubmedqaChoices.indexOf(decision),
  };
  return item;
}

/**
 * The line of each top-level key of a JSON object text, and of each key of the objects under them: a scan
 * of the text, which JSON.parse has already accepted. Fails on a repeated top-level key.
 */
function jsonKeyLines(
  file: string,
  text: string,
): Map<string, { line: number; fields: Map<string, number> }> {
  const keys = new Map<string, { line: number; fields: Map<string, number> }>();
  let current: { line: number; fields: Map<string, number> } | undefined;
  let line = 1;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === "\n") line++;
    else if (char === "{" || char === "[") depth++;
    else if (char === "}" || char === "]") depth--;
    else if (char === '"') {
      const start = i;
      const startLine = line;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth !== 1 && depth !== 2) continue;
      let next = i + 1;
      while (next < text.length && /\s/u.test(text[next]!)) next++;
      if (text[next] !== ":") continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (depth === 1) {
        const first = keys.get(key);
        if (first) {
          // JSON.parse keeps the last of repeated keys silently.
          throw new BenchmarkFormatError(
            file,
            startLine,
            "PMID",
            `duplicate key ${shown(key)} (first at line ${first.line})`,
          );
        }
        current = { line: startLine, fields: new Map() };
        keys.set(key, current);
      } else current?.fields.set(key, startLine);
    }
  }
  return keys;
}

function jsonErrorLine(text: string, error: Error): number {
  const position = /position (\d+)/u.exec(error.message);
  if (position) return text.slice(0, Number(position[1])).split("\n").length;
  const line = /line (\d+)/u.exec(error.message);
  return line ? Number(line[1]) : 1;
}

function readPubMedQAOriginal(path: string, text: string): McqItem[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const line = jsonErrorLine(text, error as Error);
    throw new BenchmarkFormatError(path, line, undefined, `invalid JSON (${(error as Error).message})`);
  }
  if (!isObject(data)) {
    throw new BenchmarkFormatError(
      path,
      1,
      undefined,
      `expected one JSON object keyed by PMID (got ${typeName(data)})`,
    );
  }
  const lines = jsonKeyLines(path, text);
  const rows = Object.entries(data).map(([pmid, value]) => {
    const located = lines.get(pmid);
    const where: Where = { file: path, line: located?.line ?? 1, fieldLines: located?.fields };
    const record = requireObject({ file: path, line: where.line }, value, pmid);
    const question = requireString(where, record.QUESTION, "QUESTION");
    const contexts = requireStrings(where, record.CONTEXTS, "CONTEXTS");
    const decision = requireOneOf(where, record.final_decision, "final_decision", pubmedqaChoices);
    return { where, item: pubmedqaItem(pmid, contexts, question, decision) };
  });
  checkUniqueIds(path, rows, "PMID");
  return rows.map((row) => row.item);
}

function readPubMedQAHf(path: string, text: string): McqItem[] {
  const rows = parseJsonLines(path, text).map(({ where, record }) => {
    const pubid = record.pubid;
    if (pubid === undefined || pubid === null) fail(where, "pubid", "missing");
    const id =
      typeof pubid === "number" && Number.isInteger(pubid) && pubid > 0
        ? String(pubid)
        : typeof pubid === "string" && /^\d+$/u.test(pubid)
          ? pubid
          : fail(where, "pubid", `must be a PubMed id, an integer (got ${typeName(pubid)})`);
    const question = requireString(where, record.question, "question");
    const context = requireObject(where, record.context, "context");
    const contexts = requireStrings(where, context.contexts, "context.contexts");
    const decision = requireOneOf(where, record.final_decision, "final_decision", pubmedqaChoices);
    return { where, item: pubmedqaItem(id, contexts, question, decision) };
  });
  checkUniqueIds(path, rows, "pubid");
  return rows.map((row) => row.item);
}

/**
 * Reads PubMedQA: the original `ori_pqal.json` / `test_set.json` or the Hugging Face export as JSON lines.
 * `auto` (the default) takes JSON lines where the first line is a whole object with a `pubid` or `question`.
 */
export async function readPubMedQA(
  path: string,
  options: { layout?: PubMedQALayout | "auto" } = {},
): Promise<McqItem[]> {
  const text = await readText(path);
  let layout = options.layout ?? "auto";
  if (layout === "auto") {
    const first = text.split("\n").find((line) => line.trim() !== "") ?? "";
    let record: unknown;
    try {
      record = JSON.parse(first);
    } catch {
      record = undefined;
    }
    layout = isObject(record) && ("pubid" in record || "question" in record) ? "hf" : "original";
  }
  return layout === "hf" ? readPubMedQAHf(path, text) : readPubMedQAOriginal(path, text);
}

// ---------------------------------------------------------------------------------------------------------
// MMLU: CSV without a header, `question,A,B,C,D,answer letter`, one file per subject (`anatomy_test.csv`)

export type CsvRecord = { line: number; fields: string[] };

/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a quoted field may hold commas, line breaks
 * and doubled quotes. Empty lines are skipped. `columnName` names a column in error messages.
 */
export function parseCsv(file: string, text: string, columnName: (index: number) => string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  const atEnd = (at: number) => at >= n || text[at] === "\n" || (text[at] === "\r" && text[at + 1] === "\n");
  while (i < n) {
    if (atEnd(i)) {
      i += text[i] === "\r" ? 2 : 1;
      line++;
      continue;
    }
    const start = line;
    const fields: string[] = [];
    for (;;) {
      const column = columnName(fields.length);
      if (text[i] === '"') {
        let value = "";
        i++;
        for (;;) {
          const close = text.indexOf('"', i);
          if (close < 0) {
            throw new BenchmarkFormatError(
              file,
              start,
              column,
              "unterminated quoted field (no closing quote)",
            );
          }
          const chunk = text.slice(i, close);
          value += chunk;
          for (const char of chunk) if (char === "\n") line++;
          if (text[close + 1] === '"') {
            value += '"';
            i = close + 2;
          } else {
            i = close + 1;
            break;
          }
        }
        if (!atEnd(i) && text[i] !== ",") {
          throw new BenchmarkFormatError(
            file,
            start,
            column,
            `unexpected ${shown(text[i])} after a closing quote (a quote inside a quoted field must be doubled)`,
          );
        }
        fields.push(value);
      } else {
        let end = i;
        while (end < n && text[end] !== "," && !atEnd(end)) end++;
        const value = text.slice(i, end);
        if (value.includes('"')) {
          throw new BenchmarkFormatError(
            file,
            start,
            column,
            "a quote inside an unquoted field (RFC 4180 needs the field quoted)",
          );
        }
        fields.push(value);
        i = end;
      }
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (i < n) {
        i += text[i] === "\r" ? 2 : 1;
        line++;
      }
      break;
    }
    records.push({ line: start, fields });
  }
  return records;
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
    const item: McqItem = {
      id: `${basename(path)}:${line}`,
      benchmark: `mmlu_${key}`,
      question: question!,
      choices,
      answer: mmluLetters.indexOf(letter),
      subject: key.replaceAll("_", " "),
    };
    return { where, item };
  });
  checkUniqueIds(path, rows, "id");
  return rows.map((row) => row.item);
}

// ---------------------------------------------------------------------------------------------------------
// Specs and suites

/** Reads one benchmark of a suite; every item's `benchmark` is the spec's name. */
export async function readBenchmark(spec: BenchmarkSpec, baseDir: string): Promise<McqItem[]> {
  const path = resolve(baseDir, spec.path);
  let items: McqItem[];
  switch (spec.format) {
    case "medqa":
      items = await readMedQA(path);
      break;
    case "medmcqa":
      items = await readMedMCQA(path, { cop: "1-based" });
      break;
    case "medmcqa-hf":
      items = await readMedMCQA(path, { cop: "0-based" });
      break;
    case "pubmedqa":
      items = await readPubMedQA(path, { layout: "original" });
      break;
    case "pubmedqa-hf":
      items = await readPubMedQA(path, { layout: "hf" });
      break;
    case "mmlu":
      items = await readMmluCsv(path);
      break;
  }
  const limited = spec.limit === undefined ? items : items.slice(0, spec.limit);
  return limited.map((item) => ({ ...item, benchmark: spec.name }));
}

const formats = ["medqa", "medmcqa", "medmcqa-hf", "pubmedqa", "pubmedqa-hf", "mmlu"] as const;

const benchmarkSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/u, "must be letters, digits, _ . or - (no spaces)"),
  format: z.enum(formats),
  path: z.string().min(1, "must not be empty"),
  limit: z.number().int().positive().optional(),
});

const suiteSchema = z
  .strictObject({
    name: z.string().min(1, "must not be empty"),
    version: z.number().int().positive(),
    benchmarks: z.array(benchmarkSpecSchema).min(1, "must name at least one benchmark"),
  })
  .superRefine((suite, context) => {
    const seen = new Set<string>();
    suite.benchmarks.forEach((spec, i) => {
      if (seen.has(spec.name)) {
        context.addIssue({
          code: "custom",
          path: ["benchmarks", i, "name"],
          message: `duplicate name "${spec.name}"`,
        });
      }
      seen.add(spec.name);
      // mcqScoring.ts gives items whose benchmark starts with "pubmedqa" the yes/no/maybe prompt.
      if (spec.format.startsWith("pubmedqa") && !spec.name.startsWith("pubmedqa")) {
        context.addIssue({
          code: "custom",
          path: ["benchmarks", i, "name"],
          message: `must start with "pubmedqa" for format "${spec.format}" (the scorer picks PubMedQA's prompt by it)`,
        });
      }
    });
  });

function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const part of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/**
 * Reads a suite file `{"name", "version", "benchmarks": [BenchmarkSpec...]}` and every benchmark it names,
 * paths relative to the suite file's folder. `items` maps each benchmark's name to its items, in suite order.
 */
export async function loadSuite(path: string): Promise<{ suite: Suite; items: Map<string, McqItem[]> }> {
  const file = resolve(path);
  let data: unknown;
  try {
    data = JSON.parse(await readText(file));
  } catch (error) {
    throw new Error(`suite ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = suiteSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issuePath(issue.path) || "(top level)";
      const value = issue.path.length > 0 ? valueAt(data, issue.path) : undefined;
      return `  ${where}: ${issue.message}${value === undefined ? "" : ` (got ${shown(value)})`}`;
    });
    throw new Error(`suite ${file} is invalid:\n${problems.join("\n")}`);
  }
  const suite: Suite = parsed.data;
  const baseDir = dirname(file);
  const loaded = await Promise.all(
    suite.benchmarks.map(async (spec) => {
      try {
        return await readBenchmark(spec, baseDir);
      } catch (error) {
        if (error instanceof BenchmarkFormatError) throw error;
        throw new Error(`suite ${file}: benchmark "${spec.name}": ${(error as Error).message}`, {
          cause: error,
        });
      }
    }),
  );
  return { suite, items: new Map(suite.benchmarks.map((spec, i) => [spec.name, loaded[i]!])) };
}
