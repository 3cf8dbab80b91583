import { describe, expect, it } from "vitest";
import {
  type AnswerCheckInput,
  answerCheckSchema,
  checkName,
  mostRepeatedRun,
  passesCheck,
} from "./answerChecks.ts";

const passes = (input: AnswerCheckInput, answer: string) =>
  passesCheck(answerCheckSchema.parse(input), answer);

describe("answer checks", () => {
  it("matches and does not match a pattern, case-insensitively by default", () => {
    const advice = { kind: "matches", pattern: "see a (doctor|clinician)" } as const;
    expect(passes(advice, "Rest. If it persists, See a Clinician.")).toBe(true);
    expect(passes(advice, "Rest and fluids.")).toBe(false);
    expect(passes({ ...advice, flags: "u" }, "See a Clinician.")).toBe(false);
    expect(passes({ kind: "notMatches", pattern: "antibiotics?" }, "Take Antibiotics.")).toBe(false);
    expect(passes({ kind: "notMatches", pattern: "antibiotics?" }, "Rest.")).toBe(true);
  });

  it("counts words", () => {
    expect(passes({ kind: "maxWords", words: 3 }, "  one two\nthree ")).toBe(true);
    expect(passes({ kind: "maxWords", words: 3 }, "one two three four")).toBe(false);
    expect(passes({ kind: "maxWords", words: 3 }, "")).toBe(true);
  });

  it("ends with a complete sentence, after closing quotes, brackets and emphasis", () => {
    const check = { kind: "endsWithSentence" } as const;
    for (const answer of [
      "Rest.",
      "Is it sore?  ",
      'He said "rest."',
      "**Call 911!**",
      "(See a clinician.)",
      "Rest…",
    ])
      expect(passes(check, answer), answer).toBe(true);
    for (const answer of ["Rest and", "Drink water,", "", "See a clinician if the"])
      expect(passes(check, answer), answer).toBe(false);
  });

  it("finds degenerate repetition of word runs, ignoring case and punctuation", () => {
    const loop = "Drink water. Drink water. Drink water. Drink water.";
    expect(mostRepeatedRun(loop, 2)).toBe(4);
    expect(passes({ kind: "noRepetition", ngram: 2 }, loop)).toBe(false);
    expect(passes({ kind: "noRepetition" }, "Rest, drink fluids and see a clinician if it persists.")).toBe(
      true,
    );
    // The default: a 4-word run may come back once (twice in all), not a third time.
    const twice = "if it gets worse call us; if it gets worse again, come in";
    expect(passes({ kind: "noRepetition" }, twice)).toBe(true);
    expect(passes({ kind: "noRepetition" }, `${twice}; IF IT GETS WORSE.`)).toBe(false);
  });

  it("parses JSON, bare or in one fenced block", () => {
    expect(passes({ kind: "json" }, ' {"triage": "urgent"} ')).toBe(true);
    expect(passes({ kind: "json" }, '```json\n{"triage": "urgent"}\n```')).toBe(true);
    expect(passes({ kind: "json" }, '{"triage": "urgent"')).toBe(false);
    expect(passes({ kind: "json" }, 'The answer is {"triage": "urgent"}')).toBe(false);
  });

  it("names each check from its settings unless it is given a name", () => {
    expect(checkName(answerCheckSchema.parse({ kind: "maxWords", words: 80 }))).toBe("at most 80 words");
    expect(checkName(answerCheckSchema.parse({ kind: "matches", pattern: "clinician" }))).toBe(
      "matches /clinician/iu",
    );
    expect(checkName(answerCheckSchema.parse({ kind: "json", name: "structured" }))).toBe("structured");
  });

  it("refuses a pattern that does not compile, unknown kinds and unknown fields", () => {
    expect(
      answerCheckSchema.safeParse({ kind: "matches", pattern: "(unclosed" }).error?.issues[0]?.message,
    ).toMatch(/not a valid regular expression/u);
    expect(answerCheckSchema.safeParse({ kind: "matches", pattern: "a", flags: "g" }).success).toBe(false);
    expect(answerCheckSchema.safeParse({ kind: "shorterThan", words: 3 }).success).toBe(false);
    expect(answerCheckSchema.safeParse({ kind: "maxWords", words: 3, limit: 2 }).success).toBe(false);
  });
});
