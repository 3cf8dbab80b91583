// What every benchmark reader shares: the item type, the format error that names file, line and field, and
// the checks of a record's fields.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

/** The task an item belongs to: it decides how a protocol writes the item's prompt (protocols.ts). */
export type McqTask = "medqa" | "medmcqa" | "pubmedqa" | "mmlu";

/** One multiple-choice question. */
export type McqItem = {
  /**
   * The item's id, which results are stored and paired under: a hash of its question, context and options
   * (contentId), so it survives renaming the file and reordering its items.
   */
  id: string;
  /** Where it came from, for people: the file's own id where it has one, else `<file basename>:<line>`. */
  source: string;
  /** e.g. "medmcqa", "medqa", "pubmedqa", "mmlu_anatomy". */
  benchmark: string;
  task: McqTask;
  /** The question as the file has it. */
  question: string;
  /** PubMedQA's abstract, one entry per labelled section. */
  context?: string[];
  /** Answer texts, in order. */
  choices: string[];
  /** 0-based index of the correct choice. */
  answer: number;
  subject?: string;
};

/** The first 16 hex digits of the sha256 of `[question, context, choices]` as JSON. */
export function contentId(item: Pick<McqItem, "question" | "context" | "choices">): string {
  const text = JSON.stringify([item.question, item.context ?? [], item.choices]);
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

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

export type JsonObject = Record<string, unknown>;

/** Where a record sits: its line, and where known the line of each of its fields. */
export type Where = { file: string; line: number; fieldLines?: Map<string, number> };

export function fail(where: Where, field: string | undefined, problem: string): never {
  const key = field?.split(/[.[]/u)[0];
  const line = (key === undefined ? undefined : where.fieldLines?.get(key)) ?? where.line;
  throw new BenchmarkFormatError(where.file, line, field, problem);
}

export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${shown(value)}`;
}

export function requireString(where: Where, value: unknown, field: string): string {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (typeof value !== "string") fail(where, field, `must be a string (got ${typeName(value)})`);
  if (value.trim() === "") fail(where, field, "must not be empty");
  return value;
}

export function requireObject(where: Where, value: unknown, field: string): JsonObject {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (!isObject(value)) fail(where, field, `must be an object (got ${typeName(value)})`);
  return value;
}

export function requireStrings(where: Where, value: unknown, field: string): string[] {
  if (value === undefined || value === null) fail(where, field, "missing");
  if (!Array.isArray(value)) fail(where, field, `must be an array of strings (got ${typeName(value)})`);
  if (value.length === 0) fail(where, field, "must not be empty");
  return value.map((entry, i) => requireString(where, entry, `${field}[${i}]`));
}

export function requireOneOf<T extends string>(
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
export function sourceOf(where: Where, record: JsonObject, field: string): string {
  const value = record[field];
  if (value === undefined || value === null) return `${basename(where.file)}:${where.line}`;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  return requireString(where, value, field);
}

/**
 * Fails on a repeated source id (`field`, the file's own id), then gives every item its content id. An item
 * whose question and options repeat an earlier one's gets `-2`, `-3`... after the hash, in file order.
 */
export function withIds(
  file: string,
  rows: { where: Where; item: Omit<McqItem, "id"> }[],
  field: string,
): McqItem[] {
  if (rows.length === 0) throw new BenchmarkFormatError(file, 1, undefined, "no items in the file");
  const sources = new Map<string, number>();
  const hashes = new Map<string, number>();
  return rows.map(({ where, item }) => {
    const first = sources.get(item.source);
    if (first !== undefined)
      fail(where, field, `duplicate id ${shown(item.source)} (first at line ${first})`);
    sources.set(item.source, where.line);
    const hash = contentId(item);
    const seen = (hashes.get(hash) ?? 0) + 1;
    hashes.set(hash, seen);
    return { id: seen === 1 ? hash : `${hash}-${seen}`, ...item };
  });
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export async function readText(path: string): Promise<string> {
  return stripBom(await readFile(path, "utf8"));
}

export type JsonLine = { where: Where; record: JsonObject };

export function parseJsonLines(file: string, text: string): JsonLine[] {
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
