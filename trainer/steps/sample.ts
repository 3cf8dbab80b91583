// sampling: K answers per prompt from the champion, plus the logged answers and corrections clinicians gave.
import {
  advanceRound,
  completionTexts,
  feedbackForCompletions,
  type NewRoundCandidate,
  roundCandidatesOf,
  roundPromptsOf,
  storeCandidates,
} from "../../db/rounds.ts";
import type { FeedbackRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { mapConcurrent } from "../concurrency.ts";
import { loadVersion, type RoundStep, versionOf } from "./stepContext.ts";

export const sampleCandidates: RoundStep = async (round, config, { db, onProgress, signal }) => {
  const prompts = await roundPromptsOf(db, round.id);
  const stored = new Set((await roundCandidatesOf(db, round.id)).map((row) => row.promptId));
  const allIds = prompts.flatMap((prompt) => prompt.completionIds);
  const judgements = await feedbackForCompletions(db, allIds);
  const judged = new Set(judgements.flatMap((row) => [row.completionId, row.otherCompletionId ?? ""]));
  const texts = await completionTexts(db, [...judged].filter(Boolean));
  await using engine = await loadVersion(await versionOf(db, round.baseVersionId), config, {
    kvCache: "f16",
  });
  let done = stored.size;
  let skipped = 0;
  const todo = prompts.filter((prompt) => !stored.has(prompt.id));
  onProgress({ roundId: round.id, step: "sampling", done, total: prompts.length });
  await mapConcurrent(
    todo,
    engine.info.parallel,
    async (prompt) => {
      const rows: NewRoundCandidate[] = [];
      for (let i = 0; i < config.candidates; i++) {
        const seed = config.seed * 1_000_003 + prompt.id * 101 + i;
        let stream: Awaited<ReturnType<InferenceEngine["startChat"]>>;
        try {
          stream = await engine.startChat(
            {
              messages: prompt.messages as ChatMessage[],
              maxTokens: config.maxTokens,
              sampling: { temperature: config.temperature, topP: config.topP },
              seed,
            },
            signal,
          );
        } catch (error) {
          if (error instanceof ContextLengthExceededError) {
            skipped++;
            return;
          }
          throw error;
        }
        for await (const _ of stream) {
          // The whole text is read from the result.
        }
        const result = await stream.result;
        rows.push({
          roundId: round.id,
          promptId: prompt.id,
          index: i,
          source: "sampled",
          text: result.text,
          seed,
          finishReason: result.finishReason,
        });
      }
      for (const candidate of loggedCandidates(prompt.completionIds, judgements, texts)) {
        rows.push({ roundId: round.id, promptId: prompt.id, index: rows.length, ...candidate });
      }
      await storeCandidates(db, rows);
      done++;
      onProgress({ roundId: round.id, step: "sampling", done, total: prompts.length });
    },
    signal,
  );
  const candidates = await roundCandidatesOf(db, round.id);
  await advanceRound(db, round.id, "sampling", "judging", {
    stats: { sampled: { candidates: candidates.length, skippedTooLong: skipped } },
  });
};

/** Logged answers clinicians judged become candidates, and their corrections too. */
function loggedCandidates(
  completionIds: string[],
  judgements: FeedbackRow[],
  texts: Map<string, string>,
): Omit<NewRoundCandidate, "roundId" | "promptId" | "index">[] {
  const ids = new Set(completionIds);
  const relevant = judgements.filter((row) => ids.has(row.completionId));
  const logged = new Set<string>();
  for (const row of relevant) {
    logged.add(row.completionId);
    if (row.kind === "preference" && row.otherCompletionId) logged.add(row.otherCompletionId);
  }
  const out: Omit<NewRoundCandidate, "roundId" | "promptId" | "index">[] = [];
  for (const id of logged) {
    const text = texts.get(id);
    if (text !== undefined) out.push({ source: "logged", text, completionId: id });
  }
  const corrections = new Set<string>();
  for (const row of relevant) {
    if (row.kind !== "correction" || row.correction === null) continue;
    const key = `${row.completionId}\u0000${row.correction}`;
    if (corrections.has(key)) continue;
    corrections.add(key);
    out.push({ source: "correction", text: row.correction, completionId: row.completionId });
  }
  return out;
}
