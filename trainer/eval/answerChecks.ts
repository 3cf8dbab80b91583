// Checks a team writes on generated answers (in the gate config, per probe set): a pattern that must or must not
// match, a word limit, a complete last sentence, no degenerate repetition, valid JSON. Each is a pure function of
// the answer's text, so the same answer always passes or fails the same way.
import { z } from "zod";

const flagsSchema = z
  .string()
  .regex(/^[imsu]*$/u, "flags may only be i, m, s and u")
  .default("iu")
  .describe("RegExp flags");

/** A regular expression (JavaScript syntax) that compiles. */
const patternSchema = z
  .string()
  .min(1)
  .refine(
    (pattern) => {
      try {
        new RegExp(pattern, "u");
        return true;
      } catch {
        return false;
      }
    },
    { message: "not a valid regular expression (JavaScript syntax, u flag)" },
  );

const named = { name: z.string().min(1).optional() };

export const answerCheckSchema = z.discriminatedUnion("kind", [
  /** The answer contains a match of `pattern`. Default flags: "iu" (case-insensitive) */
  z.strictObject({ kind: z.literal("matches"), pattern: patternSchema, flags: flagsSchema, ...named }),
  /** The answer contains no match of `pattern`. Default flags: "iu" */
  z.strictObject({ kind: z.literal("notMatches"), pattern: patternSchema, flags: flagsSchema, ...named }),
  /** The answer has at most `words` words (runs of non-space characters). */
  z.strictObject({ kind: z.literal("maxWords"), words: z.number().int().positive(), ...named }),
  /** The answer's last character (after closing quotes, brackets and markdown emphasis) ends a sentence: . ! ? … */
  z.strictObject({ kind: z.literal("endsWithSentence"), ...named }),
  /**
   * No run of `ngram` words (default 4, compared lowercased without punctuation) occurs more than `maxOccurrences`
   * times (default 2): the loops a degenerate model falls into.
   */
  z.strictObject({
    kind: z.literal("noRepetition"),
    ngram: z.number().int().min(1).max(50).default(4),
    maxOccurrences: z.number().int().min(1).default(2),
    ...named,
  }),
  /** The answer, trimmed, or the content of the one fenced code block it is, parses as JSON. */
  z.strictObject({ kind: z.literal("json"), ...named }),
]);

export type AnswerCheck = z.infer<typeof answerCheckSchema>;
export type AnswerCheckInput = z.input<typeof answerCheckSchema>;

/** The check's name in reports: its own `name`, else one written from its settings. */
export function checkName(check: AnswerCheck): string {
  if (check.name) return check.name;
  switch (check.kind) {
    case "matches":
      return `matches /${check.pattern}/${check.flags}`;
    case "notMatches":
      return `does not match /${check.pattern}/${check.flags}`;
    case "maxWords":
      return `at most ${check.words} words`;
    case "endsWithSentence":
      return "ends with a complete sentence";
    case "noRepetition":
      return `no ${check.ngram}-word run more than ${check.maxOccurrences} times`;
    case "json":
      return "parses as JSON";
  }
}

/** Whether `answer` passes `check`. */
export function passesCheck(check: AnswerCheck, answer: string): boolean {
  switch (check.kind) {
    case "matches":
      return new RegExp(check.pattern, check.flags).test(answer);
    case "notMatches":
      return !new RegExp(check.pattern, check.flags).test(answer);
    case "maxWords":
      return wordsOf(answer).length <= check.words;
    case "endsWithSentence":
      return endsWithSentence(answer);
    case "noRepetition":
      return mostRepeatedRun(answer, check.ngram) <= check.maxOccurrences;
    case "json":
      return parsesAsJson(answer);
  }
}

function wordsOf(text: string): string[] {
  return text.split(/\s+/u).filter((word) => word.length > 0);
}

function endsWithSentence(answer: string): boolean {
  // Closing quotes, brackets and markdown emphasis may follow the sentence's end: `He said "rest."` or `**Rest.**`.
  const stripped = answer.trimEnd().replace(/["'”’»)\]*_`]+$/u, "");
  return /[.!?…。！？]$/u.test(stripped);
}

/** How often the most frequent run of `n` words occurs (words lowercased, punctuation dropped). */
export function mostRepeatedRun(answer: string, n: number): number {
  const words = wordsOf(answer.toLowerCase())
    .map((word) => word.replace(/[^\p{L}\p{N}]+/gu, ""))
    .filter((word) => word.length > 0);
  const counts = new Map<string, number>();
  let most = 0;
  for (let i = 0; i + n <= words.length; i++) {
    const key = words.slice(i, i + n).join(" ");
    const count = (counts.get(key) ?? 0) + 1;
    counts.set(key, count);
    if (count > most) most = count;
  }
  return most;
}

function parsesAsJson(answer: string): boolean {
  const trimmed = answer.trim();
  const fenced = /^```[\w-]*\n([\s\S]*?)\n?```$/u.exec(trimmed);
  try {
    JSON.parse(fenced ? fenced[1]! : trimmed);
    return true;
  } catch {
    return false;
  }
}
