// Queries of canaries: starting one, the running one of a name, its traffic paired blind, the clinicians' verdicts on
// its pairs, and its end (promotion through the registry, or rejection), each change one audited transaction.
import { randomInt } from "node:crypto";
import { and, asc, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { appendAuditIn } from "./auditTrail.ts";
import { championChannel, makeChampion, rejectCandidate } from "./championChanges.ts";
import type { Database } from "./createDatabase.ts";
import type { GateReport } from "./gateReport.ts";
import { advanceRound, findRound } from "./rounds.ts";
import {
  type CanaryEvidence,
  type CanaryJudgeVerdictRow,
  type CanaryPairRow,
  type CanaryRow,
  type CanaryRule,
  canaries,
  canaryJudgeVerdicts,
  canaryPairs,
  completions,
  feedback,
} from "./schema.ts";

export class CanaryError extends Error {
  override name = "CanaryError";
}

export type NewCanary = {
  modelName: string;
  roundId: string | null;
  championVersionId: string;
  candidateVersionId: string;
  mode: "split" | "shadow";
  share: number;
  rule: CanaryRule;
  actor: string;
};

/** Starts a canary (audited) and tells the gateways; fails when the name already has one running. */
export async function startCanary(db: Database, canary: NewCanary): Promise<CanaryRow> {
  return db.transaction(async (tx) => {
    const { actor, ...values } = canary;
    const [row] = await tx
      .insert(canaries)
      .values({ ...values, state: "running" })
      .returning();
    await appendAuditIn(tx, {
      actorKind: "system",
      actorName: actor,
      role: "registry",
      action: "canary start",
      query: {
        canaryId: row!.id,
        modelName: row!.modelName,
        mode: row!.mode,
        share: row!.share,
        championVersionId: row!.championVersionId,
        candidateVersionId: row!.candidateVersionId,
        roundId: row!.roundId,
      },
    });
    await tx.execute(sql`select pg_notify(${championChannel}, ${row!.modelName})`);
    return row!;
  });
}

export async function findCanary(db: Database, id: string): Promise<CanaryRow | undefined> {
  const [row] = await db.select().from(canaries).where(eq(canaries.id, id));
  return row;
}

/** The canary running for `name`, if any. */
export async function runningCanary(db: Database, name: string): Promise<CanaryRow | undefined> {
  const [row] = await db
    .select()
    .from(canaries)
    .where(and(eq(canaries.modelName, name), eq(canaries.state, "running")));
  return row;
}

/** Every running canary. */
export async function runningCanaries(db: Database): Promise<CanaryRow[]> {
  return db.select().from(canaries).where(eq(canaries.state, "running")).orderBy(asc(canaries.startedAt));
}

/** The canaries of `name` (or of every name), newest first. */
export async function canariesOf(db: Database, name?: string, limit = 20): Promise<CanaryRow[]> {
  return db
    .select()
    .from(canaries)
    .where(name === undefined ? undefined : eq(canaries.modelName, name))
    .orderBy(desc(canaries.startedAt))
    .limit(limit);
}

/** A canary's answers with what the decision needs of them (no text). */
export type CanaryAnswer = {
  id: string;
  promptHash: string;
  modelVersionId: string | null;
  status: "stop" | "length" | "cancelled" | "error";
  stored: boolean;
  shadowOf: string | null;
  createdAt: Date;
};

export async function canaryAnswers(db: Database, canaryId: string): Promise<CanaryAnswer[]> {
  return db
    .select({
      id: completions.id,
      promptHash: completions.promptHash,
      modelVersionId: completions.modelVersionId,
      status: completions.status,
      stored: completions.stored,
      shadowOf: completions.shadowOf,
      createdAt: completions.createdAt,
    })
    .from(completions)
    .where(eq(completions.canaryId, canaryId))
    .orderBy(asc(completions.createdAt), asc(completions.id));
}

export async function canaryPairsOf(db: Database, canaryId: string): Promise<CanaryPairRow[]> {
  return db.select().from(canaryPairs).where(eq(canaryPairs.canaryId, canaryId)).orderBy(asc(canaryPairs.id));
}

/**
 * Pairs the canary's new answers blind: a candidate's finished, stored answer with an unpaired champion's answer to
 * the same prompt (in shadow mode, the live answer it shadowed), oldest first; the candidate's side is random per
 * pair. Returns the pairs made.
 */
export async function pairCanaryAnswers(
  db: Database,
  canary: CanaryRow,
  side: () => "a" | "b" = () => (randomInt(2) === 0 ? "a" : "b"),
): Promise<CanaryPairRow[]> {
  const answers = (await canaryAnswers(db, canary.id)).filter(
    (answer) => answer.stored && (answer.status === "stop" || answer.status === "length"),
  );
  const existing = await canaryPairsOf(db, canary.id);
  const paired = new Set(existing.flatMap((pair) => [pair.championCompletionId, pair.candidateCompletionId]));
  const championAnswers = answers.filter(
    (answer) => answer.modelVersionId === canary.championVersionId && !paired.has(answer.id),
  );
  const byId = new Map(championAnswers.map((answer) => [answer.id, answer]));
  const made: { championCompletionId: string; candidateCompletionId: string; candidateSide: string }[] = [];
  for (const candidate of answers) {
    if (candidate.modelVersionId !== canary.candidateVersionId || paired.has(candidate.id)) continue;
    const champion = candidate.shadowOf
      ? byId.get(candidate.shadowOf)
      : championAnswers.find(
          (answer) => answer.promptHash === candidate.promptHash && !paired.has(answer.id),
        );
    if (!champion || paired.has(champion.id)) continue;
    paired.add(candidate.id).add(champion.id);
    made.push({
      championCompletionId: champion.id,
      candidateCompletionId: candidate.id,
      candidateSide: side(),
    });
  }
  if (made.length === 0) return [];
  return db
    .insert(canaryPairs)
    .values(made.map((pair) => ({ ...pair, canaryId: canary.id })))
    .onConflictDoNothing()
    .returning();
}

/** One clinician's verdict on a canary pair: their latest preference between its two answers. */
export type PairVerdict = {
  pairId: number;
  judge: string;
  verdict: "candidate" | "champion" | "tie";
  at: Date;
};

/** The verdicts on `pairs`, one per judge and pair (their latest), oldest first. */
export async function canaryVerdicts(db: Database, pairs: CanaryPairRow[]): Promise<PairVerdict[]> {
  if (pairs.length === 0) return [];
  const byCompletion = new Map<string, CanaryPairRow>();
  for (const pair of pairs) {
    byCompletion.set(pair.championCompletionId, pair);
    byCompletion.set(pair.candidateCompletionId, pair);
  }
  const ids = [...byCompletion.keys()];
  const latest = new Map<string, PairVerdict>();
  for (let start = 0; start < ids.length; start += 1000) {
    const rows = await db
      .select()
      .from(feedback)
      .where(
        and(
          eq(feedback.kind, "preference"),
          inArray(feedback.completionId, ids.slice(start, start + 1000)),
          isNotNull(feedback.otherCompletionId),
        ),
      )
      .orderBy(asc(feedback.id));
    for (const row of rows) {
      const pair = byCompletion.get(row.completionId);
      if (!pair || byCompletion.get(row.otherCompletionId!) !== pair) continue;
      const first = row.completionId === pair.candidateCompletionId ? "candidate" : "champion";
      const verdict =
        row.preference === "tie"
          ? "tie"
          : row.preference === "a"
            ? first
            : first === "candidate"
              ? "champion"
              : "candidate";
      latest.set(`${pair.id} ${row.apiKeyId}`, {
        pairId: pair.id,
        judge: row.apiKeyId,
        verdict,
        at: row.createdAt,
      });
    }
  }
  return [...latest.values()].sort((a, b) => a.at.getTime() - b.at.getTime() || a.pairId - b.pairId);
}

/** The round judge's verdicts on a canary's pairs (kept apart from the clinicians'), oldest first. */
export async function canaryJudgeVerdictsOf(
  db: Database,
  canaryId: string,
): Promise<CanaryJudgeVerdictRow[]> {
  return db
    .select()
    .from(canaryJudgeVerdicts)
    .where(eq(canaryJudgeVerdicts.canaryId, canaryId))
    .orderBy(asc(canaryJudgeVerdicts.id));
}

export type NewCanaryJudgeVerdict = {
  canaryId: string;
  pairId: number;
  judge: string;
  verdict: "candidate" | "champion" | "tie";
  candidateFirst: number | null;
  candidateSecond: number | null;
};

/** Stores the judge's verdicts; a pair keeps its first (a second trainer judging the same pair changes nothing). */
export async function recordCanaryJudgeVerdicts(
  db: Database,
  verdicts: NewCanaryJudgeVerdict[],
): Promise<void> {
  if (verdicts.length === 0) return;
  await db.insert(canaryJudgeVerdicts).values(verdicts).onConflictDoNothing();
}

/** A pair's conversation and both answers' text, for the judge; undefined when either answer's text is not stored. */
export async function canaryPairTexts(
  db: Database,
  pair: CanaryPairRow,
): Promise<
  { messages: { role: string; content: string }[]; candidate: string; champion: string } | undefined
> {
  const rows = await db
    .select({ id: completions.id, messages: completions.messages, choices: completions.choices })
    .from(completions)
    .where(inArray(completions.id, [pair.candidateCompletionId, pair.championCompletionId]));
  const byId = new Map(rows.map((row) => [row.id, row]));
  const candidate = byId.get(pair.candidateCompletionId);
  const champion = byId.get(pair.championCompletionId);
  const textOf = (row: typeof candidate) => row?.choices?.[0]?.text;
  if (!candidate?.messages || textOf(candidate) === undefined || textOf(champion) === undefined)
    return undefined;
  return { messages: candidate.messages, candidate: textOf(candidate)!, champion: textOf(champion)! };
}

/** The canary pair a clinician has not judged yet, oldest first, among running canaries' pairs. */
export async function nextCanaryPairFor(
  db: Database,
  judge: string,
  judgesPerPair: (canary: CanaryRow) => number = (canary) => canary.rule.judgesPerPair,
): Promise<CanaryPairRow | undefined> {
  for (const canary of await runningCanaries(db)) {
    const pairs = await canaryPairsOf(db, canary.id);
    const verdicts = await canaryVerdicts(db, pairs);
    const judges = new Map<number, Set<string>>();
    for (const verdict of verdicts) {
      judges.set(verdict.pairId, (judges.get(verdict.pairId) ?? new Set()).add(verdict.judge));
    }
    const open = pairs.find((pair) => {
      const seen = judges.get(pair.id) ?? new Set();
      return !seen.has(judge) && seen.size < judgesPerPair(canary);
    });
    if (open) return open;
  }
  return undefined;
}

/** Stores the latest look's evidence on a running canary (a decision's evidence replaces it for good). */
export async function recordCanaryLook(
  db: Database,
  canaryId: string,
  evidence: CanaryEvidence,
): Promise<void> {
  await db
    .update(canaries)
    .set({ evidence })
    .where(and(eq(canaries.id, canaryId), eq(canaries.state, "running")));
}

export type CanaryOutcome = {
  state: "promoted" | "rejected" | "stopped";
  evidence: CanaryEvidence;
  actor: string;
  reason: string;
  /** Who the audit row names: the trainer (`system`, the default) or an operator's command (`cli`). */
  actorKind?: "system" | "cli";
};

/**
 * Ends a running canary in one transaction: the candidate becomes the champion (the registry's audited change,
 * which notifies gateways) or is rejected; the canary row takes its state, evidence and who decided; its round
 * leaves `canary`; the decision is appended to the audit trail; gateways are told. False when it was not running.
 */
export async function endCanary(db: Database, canaryId: string, outcome: CanaryOutcome): Promise<boolean> {
  return db.transaction(async (tx) => {
    const txDb = tx as unknown as Database;
    const [canary] = await tx.select().from(canaries).where(eq(canaries.id, canaryId)).for("update");
    if (!canary) throw new CanaryError(`No canary ${canaryId}.`);
    if (canary.state !== "running") return false;
    const round = canary.roundId ? await findRound(txDb, canary.roundId) : undefined;
    const gateReport = (round?.stats.gate as GateReport | undefined) ?? null;
    const change = { actor: outcome.actor, reason: outcome.reason, roundId: canary.roundId, gateReport };
    if (outcome.state === "promoted") {
      await makeChampion(txDb, canary.candidateVersionId, { kind: "promote", ...change });
    } else {
      await rejectCandidate(txDb, canary.candidateVersionId, change);
    }
    const decidedAt = new Date();
    await tx
      .update(canaries)
      .set({
        state: outcome.state,
        decidedAt,
        evidence: outcome.evidence,
        decidedBy: outcome.actor,
        reason: outcome.reason,
      })
      .where(eq(canaries.id, canaryId));
    if (round?.state === "canary") {
      await advanceRound(txDb, round.id, "canary", outcome.state === "promoted" ? "promoted" : "rejected", {
        stats: {
          canary: { id: canary.id, state: outcome.state, reason: outcome.reason, ...outcome.evidence },
        },
      });
    }
    const verb = outcome.state === "promoted" ? "promote" : outcome.state === "rejected" ? "reject" : "stop";
    const byOperator = outcome.actorKind === "cli";
    await appendAuditIn(tx, {
      actorKind: byOperator ? "cli" : "system",
      actorName: outcome.actor,
      role: byOperator ? "operator" : "registry",
      action: byOperator ? `medgate canary ${verb === "stop" ? "stop" : "decide"}` : `canary ${verb}`,
      query: {
        canaryId,
        modelName: canary.modelName,
        candidateVersionId: canary.candidateVersionId,
        championVersionId: canary.championVersionId,
        reason: outcome.reason,
        comparisons: outcome.evidence.comparisons,
        winRate: outcome.evidence.winRate,
        lower: outcome.evidence.lower,
        upper: outcome.evidence.upper,
        pairIds: outcome.evidence.pairIds,
        // The round judge's verdicts, reported apart: they did not count.
        ...(outcome.evidence.judge
          ? {
              judgeVerdicts: outcome.evidence.judge.verdicts,
              judgeWinRate: outcome.evidence.judge.winRate,
              ...(outcome.evidence.judge.skipped ? { judgeSkipped: outcome.evidence.judge.skipped } : {}),
            }
          : {}),
      },
    });
    await tx.execute(sql`select pg_notify(${championChannel}, ${canary.modelName})`);
    return true;
  });
}
