// What a loop of rounds does to the model besides its answers' checks and win rate: the pooled benchmark accuracy of
// each round's champion and candidate, the length of their answers to the probe prompts, and the judge's
// chosen − rejected margins (margins that shrink round after round are a known failure of iterative DPO).
import type { RoundRow } from "../../db/schema.ts";
import { IntervalChart, type IntervalPoint } from "./svgCharts.tsx";

type Line = { name: string; points: IntervalPoint[] };

/** Lines named by series, one point per round that has the figure, in round order. */
function lines(
  rounds: RoundRow[],
  figures: (round: RoundRow) => Record<string, IntervalPoint | null>,
): Line[] {
  const byName = new Map<string, IntervalPoint[]>();
  for (const round of [...rounds].sort((a, b) => a.number - b.number)) {
    for (const [name, point] of Object.entries(figures(round))) {
      if (point) byName.set(name, [...(byName.get(name) ?? []), point]);
    }
  }
  return [...byName].map(([name, points]) => ({ name, points }));
}

/** A y range from 0 (or the lowest figure, when below 0) to a little over the highest. */
function rangeOf(series: Line[]): [number, number] {
  const values = series.flatMap((line) =>
    line.points.flatMap((p) => [p.value, p.lower ?? p.value, p.upper ?? p.value]),
  );
  const low = Math.min(0, ...values);
  const high = Math.max(...values);
  return [low, high + (high - low) * 0.1 || 1];
}

/**
 * Per round of one model: pooled accuracy, mean answer length on the probe prompts, and the judge's margins (median,
 * with a bar from the first to the third quartile). Rounds of several models draw the figures of the most recent
 * round's model, so that no chart mixes two models' scales.
 */
export function RoundCurves({ rounds }: { rounds: RoundRow[] }) {
  if (rounds.length === 0) return null;
  const model = rounds.reduce((latest, round) =>
    round.createdAt > latest.createdAt ? round : latest,
  ).modelName;
  const own = rounds.filter((round) => round.modelName === model);
  const accuracy = lines(own, (round) => {
    const pooled = round.stats.gate?.pooled;
    return {
      champion: pooled ? { x: round.number, value: pooled.championAccuracy } : null,
      candidate: pooled ? { x: round.number, value: pooled.candidateAccuracy } : null,
    };
  });
  const length = lines(own, (round) => {
    const sets = round.stats.gate?.answers?.probeSets.filter((set) => set.prompts > 0) ?? [];
    const prompts = sets.reduce((sum, set) => sum + set.prompts, 0);
    const mean = (version: "champion" | "candidate") =>
      prompts === 0
        ? null
        : {
            x: round.number,
            value: sets.reduce((sum, set) => sum + set.meanChars[version] * set.prompts, 0) / prompts,
          };
    return { champion: mean("champion"), candidate: mean("candidate") };
  });
  const margins = lines(own, (round) => {
    const summary = round.stats.judged?.margins;
    return {
      "judge margin": summary
        ? { x: round.number, value: summary.p50, lower: summary.p25, upper: summary.p75 }
        : null,
    };
  });
  const severalModels = new Set(rounds.map((round) => round.modelName)).size > 1;
  const of = severalModels ? ` (${model})` : "";
  return (
    <div class="charts" data-round-curves>
      {accuracy.length > 0 && (
        <IntervalChart title={`Pooled benchmark accuracy by round${of}`} series={accuracy} connect />
      )}
      {length.length > 0 && (
        <IntervalChart
          title={`Mean answer length on the probe prompts by round, characters${of}`}
          series={length}
          connect
          range={rangeOf(length)}
        />
      )}
      {margins.length > 0 && (
        <IntervalChart
          title={`Judge's chosen − rejected margin by round: median, quartiles${of}`}
          series={margins}
          connect
          range={rangeOf(margins)}
          reference={0}
        />
      )}
    </div>
  );
}
