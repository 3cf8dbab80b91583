// Where clinician-labelled pairs come from: a round's prompts with their clinician feedback, or a JSON-lines
// file, one pair per line: {"conversation": [{"role", "content"}...], "a", "b", "preference": "a"|"b"|"tie"}.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { Database } from "../../db/createDatabase.ts";
import { feedbackForCompletions, roundCandidatesOf, roundPromptsOf } from "../../db/rounds.ts";
import type { FeedbackRow, RoundCandidateRow, RoundPromptRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { groupBy } from "../concurrency.ts";
import type { Judgement } from "../pairs.ts";
import { clinicianLabelledPairs, type LabelledPair } from "./agreement.ts";

const lineSchema = z.strictObject({
  conversation: z
    .array(
      z.strictObject({
        role: z.enum(["system", "user", "assistant"]),
        content: z.string(),
      }),
    )
    .min(1, "must hold at least one message"),
  a: z.string().min(1, "must not be empty"),
  b: z.string().min(1, "must not be empty"),
  preference: z.enum(["a", "b", "tie"]),
  source: z.string().optional(),
});

/** Reads a labelled pairs file; a bad line fails with the file, the line and the field. */
export async function readLabelledPairs(path: string): Promise<LabelledPair[]> {
  const text = await readFile(path, "utf8");
  const pairs: LabelledPair[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new Error(`${path}:${i + 1}: invalid JSON (${(error as Error).message})`);
    }
    const parsed = lineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.map(String).join(".") || "(line)";
      throw new Error(`${path}:${i + 1}: field "${field}": ${issue.message}`);
    }
    const { conversation, a, b, preference, source } = parsed.data;
    pairs.push({ conversation, a, b, label: preference, ...(source ? { source } : {}) });
  }
  if (pairs.length === 0) throw new Error(`${path}: no labelled pairs in the file`);
  return pairs;
}

export function judgementOf(row: FeedbackRow): Judgement {
  return {
    id: row.id,
    completionId: row.completionId,
    kind: row.kind,
    rating: row.rating,
    ratingScale: row.ratingScale,
    correction: row.correction,
    otherCompletionId: row.otherCompletionId,
    preference: row.preference,
  };
}

/** A round's prompt with its candidate answers and the clinicians' judgements of its logged answers. */
export type JudgedPrompt = {
  prompt: RoundPromptRow;
  candidates: RoundCandidateRow[];
  judgements: Judgement[];
};

/** Every prompt of a round with its candidates (after the sampling step) and its clinician judgements. */
export async function roundFeedback(db: Database, roundId: string): Promise<JudgedPrompt[]> {
  const prompts = await roundPromptsOf(db, roundId);
  const candidates = groupBy(await roundCandidatesOf(db, roundId), (row) => row.promptId);
  const feedback = groupBy(
    await feedbackForCompletions(
      db,
      prompts.flatMap((prompt) => prompt.completionIds),
    ),
    (row) => row.completionId,
  );
  return prompts.map((prompt) => ({
    prompt,
    candidates: candidates.get(prompt.id) ?? [],
    judgements: prompt.completionIds.flatMap((id) => (feedback.get(id) ?? []).map(judgementOf)),
  }));
}

/** The pairs clinicians labelled among the prompts. */
export function labelledPairsOf(prompts: readonly JudgedPrompt[]): LabelledPair[] {
  return prompts.flatMap(({ prompt, candidates, judgements }) =>
    clinicianLabelledPairs(prompt.messages as ChatMessage[], candidates, judgements),
  );
}

/** The pairs clinicians labelled among a round's prompts (after its sampling step stored their answers). */
export async function roundLabelledPairs(db: Database, roundId: string): Promise<LabelledPair[]> {
  return labelledPairsOf(await roundFeedback(db, roundId));
}
