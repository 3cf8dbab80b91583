// How far a judge agrees with clinicians: the judge decides pairs the clinicians already judged (their labels
// hidden from it), and its verdicts are compared with theirs. Accuracy on the clinicians' preferred side, Cohen's
// kappa over better/worse/tie, position consistency (the verdict survives swapping the two answers' places) and
// length bias (how often the judge prefers the longer answer, against how often clinicians do), each with a
// percentile bootstrap 95% interval over the pairs.
import { createHash } from "node:crypto";
import type { Estimate, JudgeAgreementReport } from "../../db/gateReport.ts";

export type { Estimate };

import type { ChatMessage } from "../../inference/chatTypes.ts";
import { mapConcurrent } from "../concurrency.ts";
import { seededRandom } from "../eval/statistics.ts";
import { isNegativeRating, type Judgement } from "../pairs.ts";
import type { Judge } from "./types.ts";

/** A pair of answers to one conversation and the clinicians' verdict on it. */
export type LabelledPair = {
  conversation: ChatMessage[];
  a: string;
  b: string;
  /** Which answer the clinicians judged better, or `tie`. */
  label: Verdict;
  /** Where the label came from: `preference`, `correction`, `rating`, or the file's own word. */
  source?: string;
};

export type Verdict = "a" | "b" | "tie";

/**
 * The figures (db/gateReport.ts): accuracy on the clinicians' decisive pairs (a judge's tie counts wrong),
 * Cohen's kappa of better/worse/tie over every pair, the share of pairs whose one-order verdict does not flip
 * when the answers swap places, and among pairs of unequal length with a verdict how often the longer answer is
 * preferred; with each pair's verdicts in the order given.
 */
export type JudgeAgreement = Omit<JudgeAgreementReport, "used" | "reasons"> & {
  verdicts: { label: Verdict; judge: Verdict; aShownFirst: Verdict; bShownFirst: Verdict; margin: number }[];
};

/** One-order verdict from P(a is better). */
function oneOrder(probability: number): Verdict {
  return probability > 0.5 ? "a" : probability < 0.5 ? "b" : "tie";
}

type Row = JudgeAgreement["verdicts"][number] & { aLonger: boolean | null };

function share(rows: Row[], keep: (row: Row) => boolean, hit: (row: Row) => boolean): number | null {
  const kept = rows.filter(keep);
  return kept.length === 0 ? null : kept.filter(hit).length / kept.length;
}

const figures = {
  accuracy: (rows: Row[]) =>
    share(
      rows,
      (row) => row.label !== "tie",
      (row) => row.judge === row.label,
    ),
  kappa: (rows: Row[]) => cohensKappa(rows.map((row) => [row.judge, row.label])),
  positionConsistency: (rows: Row[]) =>
    share(
      rows,
      () => true,
      (row) => row.aShownFirst === row.bShownFirst,
    ),
  judgeLongerShare: (rows: Row[]) =>
    share(
      rows,
      (row) => row.aLonger !== null && row.judge !== "tie",
      (row) => (row.judge === "a") === row.aLonger,
    ),
  clinicianLongerShare: (rows: Row[]) =>
    share(
      rows,
      (row) => row.aLonger !== null && row.label !== "tie",
      (row) => (row.label === "a") === row.aLonger,
    ),
};

/** Cohen's kappa of two raters over the same items; null with no items, 1 where both agree on one category. */
export function cohensKappa(ratings: [Verdict, Verdict][]): number | null {
  const n = ratings.length;
  if (n === 0) return null;
  const categories: Verdict[] = ["a", "b", "tie"];
  const observed = ratings.filter(([x, y]) => x === y).length / n;
  let expected = 0;
  for (const category of categories) {
    const first = ratings.filter(([x]) => x === category).length / n;
    const second = ratings.filter(([, y]) => y === category).length / n;
    expected += first * second;
  }
  if (expected === 1) return observed === 1 ? 1 : null;
  return (observed - expected) / (1 - expected);
}

/** The figure on the rows and its percentile bootstrap interval (resampling pairs with replacement). */
function estimate(
  rows: Row[],
  figure: (rows: Row[]) => number | null,
  resamples: number,
  seed: number,
): Estimate {
  const value = figure(rows);
  if (value === null) return { value: null, lower: null, upper: null };
  const random = seededRandom(seed);
  const draws: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const sample = rows.map(() => rows[Math.floor(random() * rows.length)]!);
    const drawn = figure(sample);
    if (drawn !== null) draws.push(drawn);
  }
  draws.sort((x, y) => x - y);
  const at = (q: number) => draws[Math.min(draws.length - 1, Math.max(0, Math.floor(q * draws.length)))]!;
  const round = (x: number) => Math.round(x * 10000) / 10000;
  return { value: round(value), lower: round(at(0.025)), upper: round(at(0.975)) };
}

/**
 * Runs `judge` on every labelled pair (both presentation orders) and measures its agreement with the labels.
 * The judge's verdict is the one a round acts on: its score margin a − b, a tie under `tieMargin`.
 */
export async function measureAgreement(
  judge: Judge,
  pairs: readonly LabelledPair[],
  options: { tieMargin: number; resamples?: number; seed?: number; parallel?: number; signal?: AbortSignal },
): Promise<JudgeAgreement> {
  const resamples = options.resamples ?? 2000;
  const seed = options.seed ?? 0;
  const rows: Row[] = await mapConcurrent(
    pairs,
    options.parallel ?? 2,
    async (pair) => {
      const compared = await judge.compare(pair.conversation, pair.a, pair.b, options.signal);
      const verdict: Verdict =
        compared.margin >= options.tieMargin && compared.margin > 0
          ? "a"
          : compared.margin <= -options.tieMargin && compared.margin < 0
            ? "b"
            : "tie";
      return {
        label: pair.label,
        judge: verdict,
        aShownFirst: oneOrder(compared.aShownFirst),
        bShownFirst: oneOrder(compared.bShownFirst),
        margin: Math.round(compared.margin * 1e6) / 1e6,
        aLonger: pair.a.length === pair.b.length ? null : pair.a.length > pair.b.length,
      };
    },
    options.signal,
  );
  // Each figure has its own stream, so adding one never moves another's interval.
  const of = (figure: (rows: Row[]) => number | null, offset: number) =>
    estimate(rows, figure, resamples, seed + offset);
  return {
    judge: judge.describe(),
    kind: judge.name,
    pairs: rows.length,
    decisive: rows.filter((row) => row.label !== "tie").length,
    accuracy: of(figures.accuracy, 1),
    kappa: of(figures.kappa, 2),
    positionConsistency: of(figures.positionConsistency, 3),
    lengthBias: {
      judgeLongerShare: of(figures.judgeLongerShare, 4),
      clinicianLongerShare: of(figures.clinicianLongerShare, 5),
    },
    tieMargin: options.tieMargin,
    resamples,
    seed,
    verdicts: rows.map(({ aLonger: _, ...verdicts }) => verdicts),
  };
}

/** What a round requires of its judge before it uses the judge's pairs. */
export type AgreementRequirement = {
  /** Least accuracy; 0 requires nothing. */
  minAccuracy: number;
  /** Least Cohen's kappa; -1 requires nothing. */
  minKappa: number;
  /** Fewest labelled pairs a requirement can be met on. */
  minPairs: number;
};

/** Whether a judge measured as `agreement` may be used: its figures against the requirement, and why not. */
export function agreementDecision(
  agreement: Pick<JudgeAgreement, "pairs" | "accuracy" | "kappa">,
  requirement: AgreementRequirement,
): { used: boolean; reasons: string[] } {
  const required = requirement.minAccuracy > 0 || requirement.minKappa > -1;
  if (!required) return { used: true, reasons: [] };
  const reasons: string[] = [];
  if (agreement.pairs < requirement.minPairs) {
    reasons.push(
      `only ${agreement.pairs} clinician-labelled pair(s); the agreement requirement needs at least ${requirement.minPairs}`,
    );
  } else {
    const accuracy = agreement.accuracy.value;
    if (requirement.minAccuracy > 0 && (accuracy === null || accuracy < requirement.minAccuracy)) {
      reasons.push(`accuracy ${accuracy ?? "n/a"} is below the minimum ${requirement.minAccuracy}`);
    }
    const kappa = agreement.kappa.value;
    if (requirement.minKappa > -1 && (kappa === null || kappa < requirement.minKappa)) {
      reasons.push(`Cohen's kappa ${kappa ?? "n/a"} is below the minimum ${requirement.minKappa}`);
    }
  }
  return { used: reasons.length === 0, reasons };
}

/** A logged or corrected answer of a prompt, as the judging step holds it. */
export type LabelCandidate = { text: string; source: string; completionId: string | null };

/** Puts a pair's answers in an order decided by their texts, so labels are not all "a". */
function oriented(conversation: ChatMessage[], better: string, worse: string, source: string): LabelledPair {
  const flip = createHash("sha256").update(`${better}\u0000${worse}`).digest()[0]! % 2 === 1;
  return flip
    ? { conversation, a: worse, b: better, label: "b", source }
    : { conversation, a: better, b: worse, label: "a", source };
}

/**
 * The pairs clinicians labelled on one prompt: each preference between two of its logged answers (ties
 * included), each correction against the answer it corrects, and a logged answer rated up against one rated
 * down. Pairs of equal texts are left out.
 */
export function clinicianLabelledPairs(
  conversation: ChatMessage[],
  candidates: readonly LabelCandidate[],
  judgements: readonly Judgement[],
): LabelledPair[] {
  const logged = (completionId: string | null) =>
    candidates.find((candidate) => candidate.source === "logged" && candidate.completionId === completionId);
  const pairs: LabelledPair[] = [];
  const seen = new Set<string>();
  const add = (pair: LabelledPair) => {
    const key = [pair.a, pair.b].sort().join("\u0000");
    if (pair.a === pair.b || seen.has(key)) return;
    seen.add(key);
    pairs.push(pair);
  };
  const latestFirst = [...judgements].sort((x, y) => y.id - x.id);
  for (const judgement of latestFirst) {
    if (judgement.kind === "preference") {
      const a = logged(judgement.completionId);
      const b = logged(judgement.otherCompletionId);
      if (!a || !b) continue;
      if (judgement.preference === "tie")
        add({ conversation, a: a.text, b: b.text, label: "tie", source: "preference" });
      else {
        const [better, worse] = judgement.preference === "a" ? [a, b] : [b, a];
        add(oriented(conversation, better.text, worse.text, "preference"));
      }
    } else if (judgement.kind === "correction" && judgement.correction !== null) {
      const original = logged(judgement.completionId);
      if (original) add(oriented(conversation, judgement.correction, original.text, "correction"));
    }
  }
  const isPositive = (judgement: Judgement) =>
    judgement.kind === "rating" &&
    judgement.rating !== null &&
    (judgement.ratingScale === "five" ? judgement.rating >= 4 : judgement.rating > 0);
  const up = latestFirst.filter(isPositive).map((judgement) => logged(judgement.completionId));
  const down = latestFirst.filter(isNegativeRating).map((judgement) => logged(judgement.completionId));
  for (const better of up)
    for (const worse of down)
      if (better && worse) add(oriented(conversation, better.text, worse.text, "rating"));
  return pairs;
}
