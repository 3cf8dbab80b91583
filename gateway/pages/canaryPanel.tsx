// The dashboard's canary panel: each recent canary of a served name with its mode, share, verdicts, the win rate with
// its always-valid interval after each verdict against the threshold, the rule, and the time left or the decision.
import type { CanaryJudgeEvidence, CanaryRow } from "../../db/schema.ts";
import { IntervalChart } from "./svgCharts.tsx";

export function CanaryPanel({ canaries, now }: { canaries: CanaryRow[]; now: Date }) {
  if (canaries.length === 0) return <p>No canaries yet.</p>;
  return (
    <>
      {canaries.map((canary) => (
        <Canary canary={canary} now={now} />
      ))}
    </>
  );
}

function Canary({ canary, now }: { canary: CanaryRow; now: Date }) {
  const { rule, evidence } = canary;
  const threshold = rule.threshold - rule.nonInferiorityMargin;
  const percent = (value: number) => `${Math.round(value * 100)}%`;
  const leftMs = rule.maxDurationMs - (now.getTime() - canary.startedAt.getTime());
  return (
    <section class="canary" data-canary-id={canary.id}>
      <h3>
        {canary.modelName}: canary {canary.state}
      </h3>
      <p class="meta">
        {canary.mode} mode, {percent(canary.share)} of requests · started {canary.startedAt.toISOString()} ·
        rule: promote when the {percent(1 - rule.alpha)} always-valid interval's lower bound clears{" "}
        {threshold}, reject when its upper bound falls below it; after {rule.maxComparisons} verdicts or{" "}
        {Math.round(rule.maxDurationMs / 3_600_000)} h, {rule.onTimeout}
      </p>
      <p>
        {evidence ? (
          <>
            {evidence.comparisons} verdicts ({evidence.wins} won, {evidence.ties} tied, {evidence.losses}{" "}
            lost): win rate {evidence.winRate === null ? "–" : evidence.winRate.toFixed(3)}, interval [
            {evidence.lower.toFixed(3)}, {evidence.upper.toFixed(3)}]
          </>
        ) : (
          <>No verdicts yet.</>
        )}
        {evidence?.clinicianAgreement &&
          ` · clinicians' agreement: Fleiss' kappa ${evidence.clinicianAgreement.fleissKappa?.toFixed(2) ?? "–"} over ${evidence.clinicianAgreement.pairs} pairs`}
        {evidence?.judge && <JudgeVerdicts judge={evidence.judge} />}
        {canary.state === "running"
          ? ` · ${Math.max(0, Math.round(leftMs / 60_000))} min left`
          : ` · decided ${canary.decidedAt?.toISOString()} by ${canary.decidedBy}: ${canary.reason}`}
      </p>
      {evidence?.history && evidence.history.length > 0 && (
        <IntervalChart
          title="Win rate against the champion after each verdict"
          series={[
            {
              name: "candidate",
              points: evidence.history.map((point) => ({
                x: point.comparisons,
                value: point.winRate,
                lower: point.lower,
                upper: point.upper,
              })),
            },
          ]}
          connect
          reference={threshold}
        />
      )}
    </section>
  );
}

/** The round judge's verdicts, apart from the clinicians' (they do not count in the decision), or why it gives none. */
function JudgeVerdicts({ judge }: { judge: CanaryJudgeEvidence }) {
  const rate = (value: number | null) => (value === null ? "–" : value.toFixed(3));
  return (
    <span class="judge-verdicts">
      {judge.skipped
        ? ` · the judge does not pre-judge: ${judge.skipped}`
        : ` · judge, apart (not counted): ${judge.verdicts} pairs (${judge.wins} won, ${judge.ties} tied, ${judge.losses} lost), win rate ${rate(judge.winRate)}, agrees with the clinicians on ${judge.agreement.agreed} of ${judge.agreement.pairs}; the clinicians' verdict else the judge's: ${rate(judge.combined.winRate)} over ${judge.combined.pairs} pairs`}
    </span>
  );
}
