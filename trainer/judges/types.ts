// What every judge of a round's candidates provides.
import type { ChatMessage } from "../../inference/chatTypes.ts";

export type Judge = {
  /** The judge's kind as a round config names it (`pairwise`, `implicit-reward`). */
  name: string;
  /** The kind and the model(s) behind it, for the round's record. */
  describe(): string;
  /** One score per candidate answer to `conversation`; higher is better. */
  score(conversation: ChatMessage[], candidates: string[], signal?: AbortSignal): Promise<number[]>;
};
