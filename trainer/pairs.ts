// From judged candidates and clinician judgements to preference pairs: who wins, the margin, the held-out split.
import { createHash } from "node:crypto";

export type Candidate = {
  /** Row id of the candidate. */
  id: number;
  text: string;
  source: "sampled" | "logged" | "correction";
  /** The logged completion this answer is, for `logged` and `correction` candidates. */
  completionId: string | null;
};

/** A clinician judgement on logged answers of one prompt, as stored in the feedback table. */
export type Judgement = {
  id: number;
  completionId: string;
  kind: "rating" | "correction" | "comment" | "preference";
  rating: number | null;
  ratingScale: string | null;
  correction: string | null;
  otherCompletionId: string | null;
  preference: string | null;
};

export type PairDecision =
  | {
      kind: "pair";
      chosen: Candidate;
      rejected: Candidate;
      source: "clinician-preference" | "clinician-correction" | `judge:${string}`;
      margin: number | null;
    }
  | { kind: "dropped"; reason: "margin" | "no-eligible-pair" | "tie" };

/** A thumbs-down, or 1–2 out of 5. */
export function isNegativeRating(judgement: Judgement): boolean {
  if (judgement.kind !== "rating" || judgement.rating === null) return false;
  return judgement.ratingScale === "five" ? judgement.rating <= 2 : judgement.rating < 0;
}

/**
 * The clinicians' pair for a prompt, if they gave one: the latest non-tie preference between two of its
 * logged answers decides; otherwise the latest correction is chosen against the answer it corrects.
 * `undefined` means the AI judge decides; a tie as the latest preference drops the prompt.
 */
export function clinicianPair(candidates: Candidate[], judgements: Judgement[]): PairDecision | undefined {
  const logged = (completionId: string | null) =>
    candidates.find((candidate) => candidate.source === "logged" && candidate.completionId === completionId);
  const latestFirst = [...judgements].sort((a, b) => b.id - a.id);
  for (const judgement of latestFirst) {
    if (judgement.kind !== "preference") continue;
    const a = logged(judgement.completionId);
    const b = logged(judgement.otherCompletionId);
    if (!a || !b) continue;
    if (judgement.preference === "tie") return { kind: "dropped", reason: "tie" };
    const [chosen, rejected] = judgement.preference === "a" ? [a, b] : [b, a];
    return { kind: "pair", chosen, rejected, source: "clinician-preference", margin: null };
  }
  for (const judgement of latestFirst) {
    if (judgement.kind !== "correction") continue;
    const original = logged(judgement.completionId);
    const correction = candidates.find(
      (candidate) =>
        candidate.source === "correction" &&
        candidate.completionId === judgement.completionId &&
        candidate.text === judgement.correction,
    );
    if (original && correction && correction.text !== original.text) {
      return {
        kind: "pair",
        chosen: correction,
        rejected: original,
        source: "clinician-correction",
        margin: null,
      };
    }
  }
  return undefined;
}

/**
 * The judge's pair: the best-scored answer no clinician rated down against the worst-scored one, kept when
 * their score difference reaches `minMargin`.
 */
export function judgedPair(
  candidates: Candidate[],
  scores: number[],
  judgements: Judgement[],
  options: { judge: string; minMargin: number },
): PairDecision {
  const ratedDown = new Set(judgements.filter(isNegativeRating).map((judgement) => judgement.completionId));
  let best = -1;
  let worst = -1;
  candidates.forEach((candidate, i) => {
    const eligible = !(candidate.completionId !== null && ratedDown.has(candidate.completionId));
    if (eligible && (best < 0 || scores[i]! > scores[best]!)) best = i;
    if (worst < 0 || scores[i]! < scores[worst]!) worst = i;
  });
  if (best < 0 || worst < 0 || best === worst || candidates[best]!.text === candidates[worst]!.text) {
    return { kind: "dropped", reason: "no-eligible-pair" };
  }
  const margin = scores[best]! - scores[worst]!;
  if (margin < options.minMargin) return { kind: "dropped", reason: "margin" };
  return {
    kind: "pair",
    chosen: candidates[best]!,
    rejected: candidates[worst]!,
    source: `judge:${options.judge}`,
    margin,
  };
}

/**
 * Which pairs are held out of training: a fixed share (at least `minHeldout` when there are twice that many
 * pairs, never more than half), picked by a seeded hash of each pair's prompt so the split is stable.
 */
export function heldOutKeys(
  keys: string[],
  options: { fraction: number; minHeldout: number; seed: number },
): Set<string> {
  const n = keys.length;
  if (n < 2 || options.fraction === 0) return new Set();
  const wanted = Math.max(
    Math.round(n * options.fraction),
    n >= 2 * options.minHeldout ? options.minHeldout : 0,
  );
  const count = Math.min(Math.floor(n / 2), Math.max(1, wanted));
  const ranked = [...keys].sort((a, b) => {
    const ha = createHash("sha256").update(`${options.seed}:${a}`).digest("hex");
    const hb = createHash("sha256").update(`${options.seed}:${b}`).digest("hex");
    return ha < hb ? -1 : ha > hb ? 1 : 0;
  });
  return new Set(ranked.slice(0, count));
}

export type LengthBias = {
  pairs: number;
  chosenMeanChars: number;
  rejectedMeanChars: number;
  /** Share of pairs whose chosen answer is the longer one. */
  chosenLongerShare: number;
  warning: string | null;
};

/**
 * Mean length of chosen vs rejected answers. Judges tend to reward length; a dataset whose chosen answers
 * are longer in most pairs and by a clear ratio teaches verbosity, which the round warns about.
 */
export function lengthBias(pairs: { chosen: string; rejected: string }[]): LengthBias {
  const n = pairs.length;
  if (n === 0)
    return { pairs: 0, chosenMeanChars: 0, rejectedMeanChars: 0, chosenLongerShare: 0, warning: null };
  const chosenMean = pairs.reduce((sum, pair) => sum + pair.chosen.length, 0) / n;
  const rejectedMean = pairs.reduce((sum, pair) => sum + pair.rejected.length, 0) / n;
  const longerShare = pairs.filter((pair) => pair.chosen.length > pair.rejected.length).length / n;
  const biased = n >= 5 && longerShare >= 0.7 && chosenMean >= 1.2 * Math.max(1, rejectedMean);
  return {
    pairs: n,
    chosenMeanChars: Math.round(chosenMean * 10) / 10,
    rejectedMeanChars: Math.round(rejectedMean * 10) / 10,
    chosenLongerShare: Math.round(longerShare * 1000) / 1000,
    warning: biased
      ? `Chosen answers are longer in ${Math.round(longerShare * 100)}% of pairs (mean ${Math.round(chosenMean)} vs ${Math.round(rejectedMean)} characters): training may reward length rather than quality.`
      : null,
  };
}
