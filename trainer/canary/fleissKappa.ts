// Agreement between clinicians on a canary's pairs: Fleiss' kappa over pairs each judged by the same number of
// clinicians, the categories being the candidate better, the champion better, or a tie.
import type { Verdict } from "./sequentialWinRate.ts";

const categories: readonly Verdict[] = ["candidate", "champion", "tie"];

/**
 * Fleiss' kappa of `subjects`, each the verdicts of the same number (≥ 2) of raters; null with no subject, or when
 * every verdict falls in one category (chance agreement is then 1 and kappa undefined).
 */
export function fleissKappa(subjects: readonly (readonly Verdict[])[]): number | null {
  if (subjects.length === 0) return null;
  const raters = subjects[0]!.length;
  if (raters < 2 || subjects.some((verdicts) => verdicts.length !== raters)) {
    throw new RangeError("Fleiss' kappa needs the same number (at least 2) of verdicts on every subject");
  }
  const totals = new Map(categories.map((category) => [category, 0]));
  let observed = 0;
  for (const verdicts of subjects) {
    const counts = categories.map((category) => verdicts.filter((verdict) => verdict === category).length);
    for (const [index, category] of categories.entries()) {
      totals.set(category, totals.get(category)! + counts[index]!);
    }
    observed += (counts.reduce((sum, count) => sum + count * count, 0) - raters) / (raters * (raters - 1));
  }
  observed /= subjects.length;
  const chance = [...totals.values()].reduce(
    (sum, total) => sum + (total / (subjects.length * raters)) ** 2,
    0,
  );
  return chance === 1 ? null : (observed - chance) / (1 - chance);
}
