// Lines up two models' per-question results benchmark by benchmark, for paired statistics.
import type { ItemResult } from "./mcqScoring.ts";

export type PairedBenchmark = {
  name: string;
  questionIds: string[];
  candidate: boolean[];
  champion: boolean[];
};

/** Per benchmark, the questions both runs answered, in one order, with whether each model got them right. */
export function pairResults(candidate: ItemResult[], champion: ItemResult[]): PairedBenchmark[] {
  const championByKey = new Map(champion.map((row) => [`${row.benchmark}\u0000${row.questionId}`, row]));
  const groups = new Map<string, PairedBenchmark>();
  const sorted = [...candidate].sort((a, b) =>
    a.benchmark === b.benchmark
      ? a.questionId.localeCompare(b.questionId)
      : a.benchmark.localeCompare(b.benchmark),
  );
  for (const row of sorted) {
    const other = championByKey.get(`${row.benchmark}\u0000${row.questionId}`);
    if (!other) continue;
    let group = groups.get(row.benchmark);
    if (!group) {
      group = { name: row.benchmark, questionIds: [], candidate: [], champion: [] };
      groups.set(row.benchmark, group);
    }
    group.questionIds.push(row.questionId);
    group.candidate.push(row.predicted === row.answer);
    group.champion.push(other.predicted === other.answer);
  }
  const missing =
    candidate.length - [...groups.values()].reduce((sum, group) => sum + group.questionIds.length, 0);
  if (missing > 0 || candidate.length !== champion.length) {
    throw new Error(
      `The candidate and champion runs did not score the same questions (${candidate.length} vs ${champion.length}, ${missing} unmatched).`,
    );
  }
  return [...groups.values()];
}
