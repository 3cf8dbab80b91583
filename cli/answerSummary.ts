// The gate's answer evaluation as `medgate rounds show` prints it: settings and judge, the overall win rate, and per
// probe set the answers' lengths, each check's pass counts with the paired change, and the set's verdicts.
import type { AnswerEvaluationReport, AnswerJudgeReport } from "../db/gateReport.ts";

const fixed = (value: number) => Number(value.toFixed(3)).toString();
/** A p-value: three decimals, or two significant digits under 0.001 (7.1e-15, not 0). */
const pValue = (value: number) => (value > 0 && value < 0.001 ? value.toPrecision(2) : fixed(value));

function judged(figures: AnswerJudgeReport): string {
  return `${figures.wins} win(s), ${figures.ties} tie(s), ${figures.losses} loss(es) in ${figures.comparisons} comparisons of ${figures.prompts} prompts; win rate ${fixed(figures.winRate)} [${fixed(figures.lower)}, ${fixed(figures.upper)}], length-controlled ${fixed(figures.lengthControlledWinRate)}`;
}

/** `champion` and `candidate` are the version labels (v1, v2). */
export function answerSummary(
  report: AnswerEvaluationReport,
  versions: { champion: string; candidate: string },
): string {
  const { champion, candidate } = versions;
  const { samples, temperature, maxTokens } = report.settings;
  const lines = [
    `answer evaluation (${report.passed ? "passed" : "failed"}): ${samples === 1 ? "greedy" : `${samples} samples at temperature ${temperature}`}, up to ${maxTokens} tokens; judge: ${report.judge ?? `none (${report.judgeSkipped ?? "not configured"})`}`,
  ];
  if (report.overall) lines.push(`  overall, ${candidate} against ${champion}: ${judged(report.overall)}`);
  for (const set of report.probeSets) {
    const percent = (share: number) => `${Math.round(share * 100)}%`;
    lines.push(
      `  ${set.name}${set.path ? ` (${set.path})` : ""}: ${set.prompts} prompts${set.trainedOn > 0 ? ` (${set.trainedOn} left out: the round trained on them)` : ""}${set.tooLong ? ` (${set.tooLong} left out: too long for a model's context)` : ""}; mean length ${champion} ${Math.round(set.meanChars.champion)} → ${candidate} ${Math.round(set.meanChars.candidate)} characters; ended before the limit ${percent(set.stopped.champion)} → ${percent(set.stopped.candidate)}`,
    );
    if (set.checks.length > 0) {
      const width = Math.max(5, ...set.checks.map((check) => check.name.length));
      lines.push(
        `    ${"check".padEnd(width)}  ${champion.padEnd(7)}  ${candidate.padEnd(7)}  gained  lost  McNemar p`,
      );
      for (const check of set.checks) {
        lines.push(
          `    ${check.name.padEnd(width)}  ${`${check.championPassed}/${check.n}`.padEnd(7)}  ${`${check.candidatePassed}/${check.n}`.padEnd(7)}  ${String(check.mcnemar.b).padEnd(6)}  ${String(check.mcnemar.c).padEnd(4)}  ${pValue(check.mcnemar.pValue)}${check.regressed ? "  REGRESSED" : ""}`,
        );
      }
    }
    if (set.judge) lines.push(`    judge: ${judged(set.judge)}`);
  }
  return lines.join("\n");
}
