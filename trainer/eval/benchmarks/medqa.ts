// MedQA-USMLE, 4 options (data_clean/questions/US/4_options/phrases_no_exclude_*.jsonl, and the Hugging Face
// exports of it): {"question", "answer", "options": {"A".."D"}, "meta_info", "answer_idx", ...}
import {
  fail,
  type McqItem,
  parseJsonLines,
  readText,
  requireObject,
  requireOneOf,
  requireString,
  shown,
  sourceOf,
  withIds,
} from "./records.ts";

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
    const item: Omit<McqItem, "id"> = {
      source: sourceOf(where, record, "id"),
      benchmark: "medqa",
      task: "medqa",
      question,
      choices,
      answer,
    };
    return { where, item };
  });
  return withIds(path, rows, "id");
}
