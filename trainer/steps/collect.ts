// collecting: finished, stored completions in the round's window, deduplicated by conversation, newest first.
import { promptHashOf } from "../../db/promptHash.ts";
import { completionsForRound, storeRoundPrompts } from "../../db/rounds.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { type RoundStep, RoundStepError } from "./stepContext.ts";

export const collectPrompts: RoundStep = async (round, config, { db }) => {
  const rows = await completionsForRound(db, {
    modelName: round.modelName,
    since: round.since,
    until: round.until,
  });
  const byHash = new Map<string, { messages: ChatMessage[]; completionIds: string[] }>();
  for (const row of rows) {
    // The stored hash is of the request as received; the round's own hash normalizes the messages again.
    const hash = row.promptHash || promptHashOf(row.messages as ChatMessage[]);
    const entry = byHash.get(hash);
    if (entry) entry.completionIds.push(row.id);
    else if (byHash.size < config.maxPrompts) {
      byHash.set(hash, { messages: row.messages as ChatMessage[], completionIds: [row.id] });
    }
  }
  if (byHash.size < config.minPrompts) {
    throw new RoundStepError(
      `Only ${byHash.size} new prompt(s) of "${round.modelName}" since ${round.since?.toISOString() ?? "the start"}; a round needs at least ${config.minPrompts}.`,
    );
  }
  await storeRoundPrompts(
    db,
    round.id,
    [...byHash].map(([promptHash, entry]) => ({ promptHash, ...entry })),
    { collected: { completions: rows.length, prompts: byHash.size } },
  );
};
