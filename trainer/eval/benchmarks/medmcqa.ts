// MedMCQA: {"id", "question", "opa".."opd", "cop", "choice_type", "exp", "subject_name", "topic_name"}, in the
// original release (1-based cop) or the Hugging Face export (0-based).
import {
  BenchmarkFormatError,
  fail,
  type JsonLine,
  type JsonObject,
  type McqItem,
  parseJsonLines,
  readText,
  requireString,
  sourceOf,
  typeName,
  type Where,
  withIds,
} from "./records.ts";

/** How MedMCQA's `cop` counts: the original release is 1-based (1 = opa), the Hugging Face export 0-based. */
export type CopBase = "1-based" | "0-based";

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
    const item: Omit<McqItem, "id"> = {
      source: sourceOf(where, record, "id"),
      benchmark: "medmcqa",
      task: "medmcqa",
      question,
      choices,
      answer: cop - offset,
    };
    const subject = record.subject_name;
    if (subject !== undefined && subject !== null)
      item.subject = requireString(where, subject, "subject_name");
    return { where, item };
  });
  return withIds(path, rows, "id");
}
