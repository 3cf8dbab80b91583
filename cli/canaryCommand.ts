// `medgate canary status|stop|decide`: a running canary's evidence, and an admin ending it by hand (audited).
import { z } from "zod";
import { canariesOf, endCanary, runningCanary } from "../db/canaries.ts";
import type { Database } from "../db/createDatabase.ts";
import type { CanaryJudgeEvidence, CanaryRow } from "../db/schema.ts";
import { type CanaryLook, checkCanary } from "../trainer/canary/checkCanary.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, databaseOptions, operator, option } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const usage = `Usage:
  medgate canary status [NAME] [--json]
      Each running canary (or NAME's latest): mode, share, pairs, verdicts, the win rate and its always-valid
      interval against the threshold, the error rates, the time left. Prints no stored text.
  medgate canary stop NAME --reason "…"
      Ends NAME's running canary keeping the champion: the candidate is rejected (audited with the reason).
  medgate canary decide NAME promote|reject --reason "…"
      Ends NAME's running canary by hand: promote makes the candidate the champion, reject keeps the champion;
      audited with the reason and the evidence at that moment.
Gateways following NAME switch within seconds (PostgreSQL LISTEN/NOTIFY, or their polling).`;

export const canaryCommand = defineCommand({
  usage,
  options: z.object({
    reason: option(z.string().optional(), { help: "Why, for the audit log", value: '"…"', env: false }),
    json: option(z.boolean().default(false), { help: "With status: one JSON object per canary", env: false }),
    ...databaseOptions,
  }),
  positionals: true,
  async run({ reason, json, ...config }, [action, name, verdict]) {
    switch (action) {
      case "status":
        return withDatabase(config, async (db) => {
          const rows = name ? await canariesOf(db, name, 1) : await canariesOf(db, undefined, 100);
          const shown = name ? rows : rows.filter((row) => row.state === "running");
          if (shown.length === 0)
            console.error(name ? `"${name}" has had no canary.` : "No canary is running.");
          for (const canary of shown) {
            const look = await checkCanary(db, canary.id, { actor: operator(), readOnly: true });
            console.log(json ? JSON.stringify(statusJson(look)) : statusText(look));
          }
        });
      case "stop":
      case "decide": {
        if (!name) throw new ConfigError(usage);
        if (action === "decide" && verdict !== "promote" && verdict !== "reject")
          throw new ConfigError("canary decide needs promote or reject after the name.");
        if (!reason)
          throw new ConfigError(`canary ${action} needs --reason "…": it goes into the audit log.`);
        return withDatabase(config, async (db) => {
          const canary = await running(db, name);
          const look = await checkCanary(db, canary.id, { actor: operator(), readOnly: true });
          const state = action === "stop" ? "stopped" : verdict === "promote" ? "promoted" : "rejected";
          const ended = await endCanary(db, canary.id, {
            state,
            evidence: { ...look.evidence, cause: `by hand (${operator()}): ${reason}` },
            actor: operator(),
            reason,
            actorKind: "cli",
          });
          if (!ended) throw new ConfigError(`The canary of "${name}" has already ended.`);
          console.error(`The canary of "${name}" is ${state}: ${reason}`);
        });
      }
      default:
        throw new ConfigError(usage);
    }
  },
});

async function running(db: Database, name: string): Promise<CanaryRow> {
  const canary = await runningCanary(db, name);
  if (!canary) throw new ConfigError(`"${name}" has no running canary (see \`medgate canary status\`).`);
  return canary;
}

function statusJson({ canary, evidence, decision, pairs, judgedPairs }: CanaryLook) {
  return {
    id: canary.id,
    modelName: canary.modelName,
    state: canary.state,
    mode: canary.mode,
    share: canary.share,
    startedAt: canary.startedAt.toISOString(),
    decidedAt: canary.decidedAt?.toISOString() ?? null,
    championVersionId: canary.championVersionId,
    candidateVersionId: canary.candidateVersionId,
    pairs,
    judgedPairs,
    ruleSays: decision,
    evidence: canary.evidence ?? evidence,
  };
}

/** The round judge's verdicts, apart from the clinicians' (they do not count), or why it gives none. */
function judgeLine(judge: CanaryJudgeEvidence): string {
  if (judge.skipped) return `  judge: no pre-judging: ${judge.skipped}`;
  const rate = (value: number | null) => (value === null ? "–" : value.toFixed(3));
  return `  judge ${judge.judge ?? "(not loaded yet)"}, apart (not counted): ${judge.verdicts} pairs, ${judge.wins} won, ${judge.ties} tied, ${judge.losses} lost, win rate ${rate(judge.winRate)}; agrees with the clinicians on ${judge.agreement.agreed} of ${judge.agreement.pairs}; clinicians' verdict else the judge's: win rate ${rate(judge.combined.winRate)} over ${judge.combined.pairs} pairs`;
}

function statusText(look: CanaryLook): string {
  const { canary, evidence, pairs, judgedPairs } = look;
  const shown = canary.evidence ?? evidence;
  const rate = shown.winRate === null ? "–" : shown.winRate.toFixed(3);
  const leftMs = canary.rule.maxDurationMs - (Date.now() - canary.startedAt.getTime());
  const errors = shown.errorRates;
  const percent = (value: number | null) => (value === null ? "–" : `${(value * 100).toFixed(1)}%`);
  return [
    `${canary.modelName}: canary ${canary.id} ${canary.state} (${canary.mode}, ${Math.round(canary.share * 100)}% of requests), started ${canary.startedAt.toISOString()}`,
    `  pairs ${pairs}, judged ${judgedPairs}; verdicts ${shown.comparisons} of at most ${canary.rule.maxComparisons}: ${shown.wins} won, ${shown.ties} tied, ${shown.losses} lost`,
    `  win rate ${rate}, ${Math.round((1 - canary.rule.alpha) * 100)}% always-valid interval [${shown.lower.toFixed(3)}, ${shown.upper.toFixed(3)}] against ${shown.threshold}`,
    ...(shown.clinicianAgreement
      ? [
          `  clinicians' agreement: Fleiss' kappa ${shown.clinicianAgreement.fleissKappa?.toFixed(3) ?? "–"} over ${shown.clinicianAgreement.pairs} pairs judged by ${shown.clinicianAgreement.judgesPerPair}`,
        ]
      : []),
    ...(shown.judge ? [judgeLine(shown.judge)] : []),
    `  failed or cancelled: candidate ${percent(errors.candidate)} of ${errors.candidateAnswers}, champion ${percent(errors.champion)} of ${errors.championAnswers} (at most +${canary.rule.maxErrorRateIncrease})`,
    canary.state === "running"
      ? `  the rule says ${look.decision} (${shown.cause}); ${Math.max(0, Math.round(leftMs / 60_000))} min left, then ${canary.rule.onTimeout}`
      : `  decided ${canary.decidedAt?.toISOString()} by ${canary.decidedBy}: ${canary.reason}`,
  ].join("\n");
}
