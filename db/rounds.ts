// Queries of alignment rounds and their outputs: prompts, candidates, pairs and training metrics.
import { and, asc, desc, eq, gte, inArray, lt, ne, notInArray, sql } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { toStorableJson } from "./losslessText.ts";
import {
  completions,
  type FeedbackRow,
  feedback,
  type RoundCandidateRow,
  type RoundPairRow,
  type RoundPromptRow,
  type RoundRow,
  type RoundState,
  roundCandidates,
  roundMetrics,
  roundPairs,
  roundPrompts,
  rounds,
} from "./schema.ts";

/** States a round can no longer leave. */
export const finishedRoundStates = [
  "promoted",
  "rejected",
  "failed",
] as const satisfies readonly RoundState[];

export const isFinishedRoundState = (state: RoundState): boolean =>
  (finishedRoundStates as readonly RoundState[]).includes(state);

export async function findRound(db: Database, id: string): Promise<RoundRow | undefined> {
  const [row] = await db.select().from(rounds).where(eq(rounds.id, id));
  return row;
}

/** A round by its uuid, or by "NAME#N" / a unique uuid prefix as typed on the command line. */
export async function findRoundByRef(db: Database, ref: string): Promise<RoundRow | undefined> {
  const numbered = /^(.+)#(\d+)$/u.exec(ref);
  if (numbered) {
    const [row] = await db
      .select()
      .from(rounds)
      .where(and(eq(rounds.modelName, numbered[1]!), eq(rounds.number, Number(numbered[2]))));
    return row;
  }
  if (/^[0-9a-f-]{36}$/iu.test(ref)) return findRound(db, ref);
  if (!/^[0-9a-f-]{4,}$/iu.test(ref)) return undefined;
  const rows = await db
    .select()
    .from(rounds)
    .where(sql`${rounds.id}::text like ${`${ref.toLowerCase()}%`}`)
    .limit(2);
  return rows.length === 1 ? rows[0] : undefined;
}

export async function listRounds(db: Database, modelName?: string, limit = 50): Promise<RoundRow[]> {
  return db
    .select()
    .from(rounds)
    .where(modelName === undefined ? undefined : eq(rounds.modelName, modelName))
    .orderBy(desc(rounds.createdAt))
    .limit(limit);
}

/** Rounds of a model that a trainer still has to drive (not finished and not waiting for the gate). */
export async function unfinishedRounds(db: Database, modelName?: string): Promise<RoundRow[]> {
  const conditions = [notInArray(rounds.state, [...finishedRoundStates])];
  if (modelName !== undefined) conditions.push(eq(rounds.modelName, modelName));
  return db
    .select()
    .from(rounds)
    .where(and(...conditions))
    .orderBy(asc(rounds.createdAt));
}

/** The newest round of a model whatever its state, whose `until` starts the next round's window. */
export async function latestRound(db: Database, modelName: string): Promise<RoundRow | undefined> {
  const [row] = await db
    .select()
    .from(rounds)
    .where(eq(rounds.modelName, modelName))
    .orderBy(desc(rounds.number))
    .limit(1);
  return row;
}

export type NewRound = Pick<
  typeof rounds.$inferInsert,
  "modelName" | "baseVersionId" | "config" | "since" | "until" | "createdBy"
>;

/** Creates a round in `collecting` with the next number of its model. */
export async function createRound(db: Database, round: NewRound): Promise<RoundRow> {
  const [{ next }] = (await db
    .select({ next: sql<number>`coalesce(max(${rounds.number}), 0) + 1` })
    .from(rounds)
    .where(eq(rounds.modelName, round.modelName))) as [{ next: number }];
  const [row] = await db
    .insert(rounds)
    .values({ ...round, number: Number(next), state: "collecting" })
    .returning();
  return row!;
}

/** Moves a round from `from` to `to`, merging `stats` and setting other fields; false if it was not in `from`. */
export async function advanceRound(
  db: Database,
  id: string,
  from: RoundState,
  to: RoundState,
  changes: Partial<
    Pick<RoundRow, "datasetPath" | "datasetSha256" | "candidateVersionId" | "error" | "errorDetail">
  > & { stats?: Record<string, unknown> } = {},
): Promise<boolean> {
  const { stats, ...fields } = changes;
  const updated = await db
    .update(rounds)
    .set({
      ...fields,
      state: to,
      updatedAt: new Date(),
      ...(stats ? { stats: mergedStats(stats) } : {}),
      ...(isFinishedRoundState(to) ? { finishedAt: new Date() } : {}),
    })
    .where(and(eq(rounds.id, id), eq(rounds.state, from)))
    .returning({ id: rounds.id });
  return updated.length === 1;
}

/** The round's statistics with `stats` merged in, on the database side; raw SQL, so stored losslessly by hand. */
function mergedStats(stats: Record<string, unknown>) {
  return sql`${rounds.stats} || ${JSON.stringify(toStorableJson(stats))}::jsonb`;
}

/** Merges `stats` into a round's statistics without changing its state. */
export async function mergeRoundStats(
  db: Database,
  id: string,
  stats: Record<string, unknown>,
): Promise<void> {
  await db
    .update(rounds)
    .set({ stats: mergedStats(stats), updatedAt: new Date() })
    .where(eq(rounds.id, id));
}

/**
 * Finished completions of a model in [since, until) whose conversation was stored, newest first, with at
 * most `limit` distinct prompts' worth of rows scanned in pages.
 */
export async function completionsForRound(
  db: Database,
  options: { modelName: string; since: Date | null; until: Date },
): Promise<
  {
    id: string;
    createdAt: Date;
    promptHash: string;
    messages: { role: string; content: string }[];
    text: string;
  }[]
> {
  const conditions = [
    eq(completions.modelName, options.modelName),
    lt(completions.createdAt, options.until),
    inArray(completions.status, ["stop", "length"]),
    eq(completions.stored, true),
  ];
  if (options.since) conditions.push(gte(completions.createdAt, options.since));
  const rows = await db
    .select({
      id: completions.id,
      createdAt: completions.createdAt,
      promptHash: completions.promptHash,
      messages: completions.messages,
      choices: completions.choices,
    })
    .from(completions)
    .where(and(...conditions))
    .orderBy(desc(completions.createdAt), desc(completions.id));
  // Feedback is keyed by completion id and judges its first choice.
  return rows.flatMap((row) => {
    const first = row.choices?.[0];
    return row.messages && first
      ? [
          {
            id: row.id,
            createdAt: row.createdAt,
            promptHash: row.promptHash,
            messages: row.messages,
            text: first.text,
          },
        ]
      : [];
  });
}

/** How many distinct finished prompts a model logged since `since`. */
export async function countNewPrompts(db: Database, modelName: string, since: Date | null): Promise<number> {
  const conditions = [
    eq(completions.modelName, modelName),
    inArray(completions.status, ["stop", "length"]),
    eq(completions.stored, true),
  ];
  if (since) conditions.push(gte(completions.createdAt, since));
  const [row] = await db
    .select({ count: sql<number>`count(distinct ${completions.promptHash})` })
    .from(completions)
    .where(and(...conditions));
  return Number(row?.count ?? 0);
}

/** Every judgement of the given completions, oldest first. */
export async function feedbackForCompletions(db: Database, ids: string[]): Promise<FeedbackRow[]> {
  if (ids.length === 0) return [];
  const rows: FeedbackRow[] = [];
  for (let start = 0; start < ids.length; start += 1000) {
    const page = ids.slice(start, start + 1000);
    rows.push(
      ...(await db
        .select()
        .from(feedback)
        .where(and(inArray(feedback.completionId, page), ne(feedback.kind, "comment")))
        .orderBy(asc(feedback.id))),
    );
  }
  return rows;
}

export type NewRoundPrompt = Omit<typeof roundPrompts.$inferInsert, "id">;
export type NewRoundCandidate = Omit<typeof roundCandidates.$inferInsert, "id">;
export type NewRoundPair = Omit<typeof roundPairs.$inferInsert, "id">;

/** Writes the collected prompts and moves the round to `sampling`, in one transaction. */
export async function storeRoundPrompts(
  db: Database,
  roundId: string,
  prompts: Omit<NewRoundPrompt, "roundId">[],
  stats: Record<string, unknown>,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    // The state check first: a round another trainer already moved on gets no writes.
    if (!(await advanceRound(tx as unknown as Database, roundId, "collecting", "sampling", { stats })))
      return false;
    await tx.delete(roundPrompts).where(eq(roundPrompts.roundId, roundId));
    for (let start = 0; start < prompts.length; start += 500) {
      await tx.insert(roundPrompts).values(prompts.slice(start, start + 500).map((p) => ({ ...p, roundId })));
    }
    return true;
  });
}

export async function roundPromptsOf(db: Database, roundId: string): Promise<RoundPromptRow[]> {
  return db
    .select()
    .from(roundPrompts)
    .where(eq(roundPrompts.roundId, roundId))
    .orderBy(asc(roundPrompts.id));
}

/** Stores one prompt's candidates; a prompt already stored (a resumed step) is left as it is. */
export async function storeCandidates(db: Database, rows: NewRoundCandidate[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insert(roundCandidates).values(rows).onConflictDoNothing();
}

export async function roundCandidatesOf(db: Database, roundId: string): Promise<RoundCandidateRow[]> {
  return db
    .select()
    .from(roundCandidates)
    .where(eq(roundCandidates.roundId, roundId))
    .orderBy(asc(roundCandidates.promptId), asc(roundCandidates.index));
}

/**
 * Stores the judge's scores and the pairs and moves the round from `judging` to `next` (`tuning` when the round
 * fine-tunes on corrections first, else `training`), in one transaction, replacing the pairs of an interrupted
 * attempt.
 */
export async function storeJudgement(
  db: Database,
  roundId: string,
  scores: { id: number; score: number | null }[],
  pairs: NewRoundPair[],
  changes: { datasetPath: string; datasetSha256: string; stats: Record<string, unknown> },
  next: "tuning" | "training" = "training",
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await advanceRound(tx as unknown as Database, roundId, "judging", next, changes))) return false;
    for (const { id, score } of scores) {
      await tx.update(roundCandidates).set({ score }).where(eq(roundCandidates.id, id));
    }
    await tx.delete(roundPairs).where(eq(roundPairs.roundId, roundId));
    for (let start = 0; start < pairs.length; start += 500) {
      await tx.insert(roundPairs).values(pairs.slice(start, start + 500));
    }
    return true;
  });
}

export async function roundPairsOf(db: Database, roundId: string): Promise<RoundPairRow[]> {
  return db
    .select()
    .from(roundPairs)
    .where(eq(roundPairs.roundId, roundId))
    .orderBy(asc(roundPairs.promptId));
}

/** Stores one logged training step; a step reported again (a retried training step) replaces the old one. */
export async function storeRoundMetrics(
  db: Database,
  roundId: string,
  step: number,
  epoch: number | null,
  values: Record<string, number>,
): Promise<void> {
  await db
    .insert(roundMetrics)
    .values({ roundId, step, epoch, values })
    .onConflictDoUpdate({ target: [roundMetrics.roundId, roundMetrics.step], set: { epoch, values } });
}

export async function clearRoundMetrics(db: Database, roundId: string): Promise<void> {
  await db.delete(roundMetrics).where(eq(roundMetrics.roundId, roundId));
}

export async function roundMetricsOf(
  db: Database,
  roundId: string,
): Promise<{ step: number; epoch: number | null; values: Record<string, number> }[]> {
  return db
    .select({ step: roundMetrics.step, epoch: roundMetrics.epoch, values: roundMetrics.values })
    .from(roundMetrics)
    .where(eq(roundMetrics.roundId, roundId))
    .orderBy(asc(roundMetrics.step));
}

/** The first choice's text of each logged completion among `ids` whose answer was stored. */
export async function completionTexts(db: Database, ids: string[]): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for (let start = 0; start < ids.length; start += 1000) {
    const rows = await db
      .select({ id: completions.id, choices: completions.choices })
      .from(completions)
      .where(inArray(completions.id, ids.slice(start, start + 1000)));
    for (const row of rows) {
      const text = row.choices?.[0]?.text;
      if (text !== undefined) texts.set(row.id, text);
    }
  }
  return texts;
}
