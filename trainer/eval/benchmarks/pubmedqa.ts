// PubMedQA: ori_pqal.json / test_set.json (one object keyed by PMID: {"QUESTION", "CONTEXTS", "LABELS",
// "MESHES", "final_decision", "LONG_ANSWER", ...}), or the Hugging Face export (qiaojin/PubMedQA, pqa_labeled)
// as JSON lines: {"pubid", "question", "context": {"contexts", "labels", "meshes"}, "long_answer", "final_decision"};
// either in the file's order, as lm-eval reads it.
import {
  BenchmarkFormatError,
  fail,
  isObject,
  type McqItem,
  parseJsonLines,
  readText,
  requireObject,
  requireOneOf,
  requireString,
  requireStrings,
  shown,
  typeName,
  type Where,
  withIds,
} from "./records.ts";

const pubmedqaChoices = ["yes", "no", "maybe"] as const;

export type PubMedQALayout = "original" | "hf";

function pubmedqaItem(
  pmid: string,
  contexts: string[],
  question: string,
  decision: (typeof pubmedqaChoices)[number],
) {
  const item: Omit<McqItem, "id"> = {
    source: pmid,
    benchmark: "pubmedqa",
    task: "pubmedqa",
    question,
    context: contexts,
    choices: [...pubmedqaChoices],
    answer: pubmedqaChoices.indexOf(decision),
  };
  return item;
}

/**
 * Each top-level key of a JSON object text in the text's order, with its line and the line of each key of the
 * object under it: a scan of the text, which JSON.parse has already accepted. Fails on a repeated top-level key.
 * The order is the point: a parsed object enumerates integer-like keys (every PMID) in ascending numeric order,
 * while Python's json, and so lm-eval, keeps the text's; a Map keeps the order keys were set in.
 */
function jsonKeysInOrder(
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
  const keys = jsonKeysInOrder(path, text);
  // Only looked up by key: the items come in the scan's order, the text's (see jsonKeysInOrder).
  const values = new Map(Object.entries(data));
  if (keys.size !== values.size) {
    throw new Error(`${path}: found ${keys.size} PMIDs in the text but ${values.size} in the parsed object`);
  }
  const rows = [...keys].map(([pmid, located]) => {
    const value = values.get(pmid);
    const where: Where = { file: path, line: located.line, fieldLines: located.fields };
    const record = requireObject({ file: path, line: where.line }, value, pmid);
    const question = requireString(where, record.QUESTION, "QUESTION");
    const contexts = requireStrings(where, record.CONTEXTS, "CONTEXTS");
    const decision = requireOneOf(where, record.final_decision, "final_decision", pubmedqaChoices);
    return { where, item: pubmedqaItem(pmid, contexts, question, decision) };
  });
  return withIds(path, rows, "PMID");
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
  return withIds(path, rows, "pubid");
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
