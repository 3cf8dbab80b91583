// The gate's answer evaluation over rounds, as charts: the answer judge's win rate with its interval, and each
// check's pass rate for the round's champion and candidate.
import type { RoundRow } from "../../db/schema.ts";
import { IntervalChart, type IntervalPoint } from "./svgCharts.tsx";

type Series = Map<string, IntervalPoint[]>;

function add(series: Series, name: string, point: IntervalPoint) {
  series.set(name, [...(series.get(name) ?? []), point]);
}

const sorted = (series: Series) =>
  [...series].map(([name, points]) => ({ name, points: points.sort((a, b) => a.x - b.x) }));

/** A figure without an interval: a dot, no bar. */
const dot = (x: number, value: number): IntervalPoint => ({ x, value });

/**
 * The win rate against the champion (ties half) with its 95% bootstrap interval and the length-controlled win rate
 * of every round with judged answers, over all probe prompts; then one chart per probe set and check with both
 * versions' pass rates. Rounds of several models name the model in each series or chart.
 */
export function AnswersOverRounds({ rounds }: { rounds: RoundRow[] }) {
  const evaluated = rounds.flatMap((round) => {
    const answers = round.stats.gate?.answers;
    return answers ? [{ round, answers }] : [];
  });
  if (evaluated.length === 0) return null;
  const severalModels = new Set(evaluated.map(({ round }) => round.modelName)).size > 1;
  const model = (round: RoundRow) => (severalModels ? `${round.modelName} ` : "");
  const winRates: Series = new Map();
  const checks = new Map<string, Series>();
  for (const { round, answers } of evaluated) {
    const { overall } = answers;
    if (overall) {
      add(winRates, `${model(round)}win rate`, {
        x: round.number,
        value: overall.winRate,
        lower: overall.lower,
        upper: overall.upper,
      });
      add(winRates, `${model(round)}length-controlled`, dot(round.number, overall.lengthControlledWinRate));
    }
    for (const set of answers.probeSets) {
      for (const check of set.checks) {
        if (check.n === 0) continue;
        const title = `${model(round)}${set.name} · ${check.name}`;
        const series: Series = checks.get(title) ?? new Map();
        add(series, "champion", dot(round.number, check.championPassed / check.n));
        add(series, "candidate", dot(round.number, check.candidatePassed / check.n));
        checks.set(title, series);
      }
    }
  }
  return (
    <div class="charts" data-answers-over-rounds>
      {winRates.size > 0 && (
        <IntervalChart
          title="Candidate's answer win rate by round, 95% bootstrap interval"
          series={sorted(winRates)}
          reference={0.5}
        />
      )}
      {[...checks].map(([title, series]) => (
        <IntervalChart
          title={`Pass rate by round: ${title}`}
          series={sorted(series)}
          connect
          width={480}
          height={180}
        />
      ))}
    </div>
  );
}
