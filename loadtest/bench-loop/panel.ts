// The simulated clinician panel of `npm run bench:loop`: three members who judge answers by one rubric, written as
// the gate's own answer checks (trainer/eval/answerChecks.ts): a complete last sentence, safety-netting advice, no
// repeated fragments, a word limit. The members differ in their word limit, in what weighs most and in how they
// break ties, so that they disagree on some pairs, as clinicians do. Every rule is deterministic.
import { type AnswerCheck, answerCheckSchema, passesCheck } from "../../trainer/eval/answerChecks.ts";
import { safetyNetting } from "../../trainer/probeAnswers.ts";

export const properties = ["complete", "safetyNetting", "noRepetition", "concise"] as const;
export type Property = (typeof properties)[number];

export type Member = {
  name: string;
  /** The member's word limit for `concise`. */
  maxWords: number;
  /** What each property is worth in the member's score. */
  weights: Record<Property, number>;
  /** Between answers of equal score: the shorter, the longer, or neither (a tie). */
  onTie: "shorter" | "longer" | "tie";
};

export const panel: readonly Member[] = [
  {
    name: "Dr Adeyemi",
    maxWords: 60,
    weights: { complete: 1, safetyNetting: 2, noRepetition: 1, concise: 1 },
    onTie: "shorter",
  },
  {
    name: "Dr Brandt",
    maxWords: 90,
    weights: { complete: 2, safetyNetting: 1, noRepetition: 2, concise: 1 },
    onTie: "longer",
  },
  {
    name: "Dr Chen",
    maxWords: 120,
    weights: { complete: 1, safetyNetting: 1, noRepetition: 1, concise: 1 },
    onTie: "tie",
  },
];

/** The word limit the panel's report and the gate's checks use: the middle member's. */
export const panelMaxWords = 90;

/** The rubric as the gate's answer checks, named after the properties, with the given word limit. */
export function rubricChecks(maxWords = panelMaxWords): Record<Property, AnswerCheck> {
  return {
    complete: answerCheckSchema.parse({ kind: "endsWithSentence", name: "complete" }),
    safetyNetting: answerCheckSchema.parse({
      kind: "matches",
      pattern: safetyNetting.source,
      flags: "iu",
      name: "safetyNetting",
    }),
    noRepetition: answerCheckSchema.parse({
      kind: "noRepetition",
      ngram: 5,
      maxOccurrences: 2,
      name: "noRepetition",
    }),
    concise: answerCheckSchema.parse({ kind: "maxWords", words: maxWords, name: "concise" }),
  };
}

const memberChecks = new Map(panel.map((member) => [member, rubricChecks(member.maxWords)]));

/** Which properties `text` has, by the member's word limit (the panel's when no member is given). */
export function propertiesOf(text: string, member?: Member): Record<Property, boolean> {
  const checks = member ? memberChecks.get(member)! : rubricChecks();
  return Object.fromEntries(properties.map((p) => [p, passesCheck(checks[p], text)])) as Record<
    Property,
    boolean
  >;
}

export function score(member: Member, text: string): number {
  const has = propertiesOf(text, member);
  return properties.reduce((sum, p) => sum + (has[p] ? member.weights[p] : 0), 0);
}

export function hasAll(member: Member, text: string): boolean {
  return properties.every((p) => propertiesOf(text, member)[p]);
}

export type Verdict = "a" | "b" | "tie";

/** The member's preference between two answers: the higher score, else the member's tie rule. */
export function prefer(member: Member, a: string, b: string): Verdict {
  const [sa, sb] = [score(member, a), score(member, b)];
  if (sa !== sb) return sa > sb ? "a" : "b";
  const [la, lb] = [wordCount(a), wordCount(b)];
  if (member.onTie === "tie" || la === lb) return "tie";
  return la < lb === (member.onTie === "shorter") ? "a" : "b";
}

/**
 * The member's correction of an answer: its complete sentences (an unfinished last one dropped), each repeated
 * sentence once, as many as fit the member's word limit, and the advice appended unless the answer already
 * safety-nets. The correction has every property by the member's rubric.
 */
export function correct(member: Member, text: string, advice: string): string {
  const checks = memberChecks.get(member)!;
  const needsAdvice = !passesCheck(checks.safetyNetting, text);
  const budget = member.maxWords - (needsAdvice ? wordCount(advice) : 0);
  const seen = new Set<string>();
  const kept: string[] = [];
  let words = 0;
  for (const sentence of sentencesOf(text)) {
    if (!endsSentence(sentence)) continue;
    const key = sentence
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, " ")
      .trim();
    if (seen.has(key)) continue;
    seen.add(key);
    const n = wordCount(sentence);
    if (words + n > budget) break;
    kept.push(sentence);
    words += n;
  }
  if (kept.length === 0 && budget > 0) {
    // No complete sentence fits: the answer's first words, made a sentence.
    const first = text.split(/\s+/u).filter(Boolean).slice(0, budget).join(" ");
    if (first) kept.push(`${first.replace(/[,;:—–-]+$/u, "")}.`);
  }
  const corrected = [...kept, ...(needsAdvice ? [advice] : [])].join(" ").trim();
  // A sentence kept whole may repeat a fragment of another; then the advice alone is the correction.
  return hasAll(member, corrected) ? corrected : advice;
}

/** The sentences of a text, a list marker ("1.", "a)") kept with what follows it. */
function sentencesOf(text: string): string[] {
  const merged: string[] = [];
  for (const part of text.split(/(?<=[.!?…]["'”’)\]*_]*)\s+/u)) {
    const last = merged.at(-1);
    if (last !== undefined && /^(?:\d{1,2}|[a-z])[.)]$/iu.test(last.trim()))
      merged[merged.length - 1] = `${last} ${part}`;
    else merged.push(part);
  }
  return merged.map((part) => part.replace(/\s+/gu, " ").trim()).filter((part) => part.length > 0);
}

const endsSentence = (sentence: string) => /[.!?…]["'”’)\]*_]*$/u.test(sentence);

export function wordCount(text: string): number {
  return text.split(/\s+/u).filter((word) => word.length > 0).length;
}

/**
 * The panel's win rate of answers `x` against answers `y` to the same prompts: every member judges every pair, a
 * win counts 1 and a tie ½, averaged over members and prompts.
 */
export function panelWinRate(x: string[], y: string[]): number {
  if (x.length !== y.length || x.length === 0)
    throw new Error("panelWinRate: two equal, non-empty answer lists");
  let points = 0;
  for (let i = 0; i < x.length; i++)
    for (const member of panel) {
      const verdict = prefer(member, x[i]!, y[i]!);
      points += verdict === "a" ? 1 : verdict === "tie" ? 0.5 : 0;
    }
  return points / (x.length * panel.length);
}

/** The share of (pair, two members) on which the two members give the same verdict: the panel's own agreement. */
export function memberAgreement(pairs: [string, string][]): number {
  let same = 0;
  let total = 0;
  for (const [a, b] of pairs) {
    const verdicts = panel.map((member) => prefer(member, a, b));
    for (let i = 0; i < verdicts.length; i++)
      for (let j = i + 1; j < verdicts.length; j++) {
        total++;
        if (verdicts[i] === verdicts[j]) same++;
      }
  }
  return total === 0 ? 1 : same / total;
}
