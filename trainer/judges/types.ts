// What every judge of a round's candidates provides.
import type { ChatMessage } from "../../inference/chatTypes.ts";

export type Judge = {
  /** The judge's kind as a round config names it (`pairwise`, `implicit-reward`). */
  name: string;
  /** The kind and the model(s) behind it, for the round's record. */
  describe(): string;
  /** One score per candidate answer to `conversation`; higher is better. */
  score(conversation: ChatMessage[], candidates: string[], signal?: AbortSignal): Promise<number[]>;
  /**
   * Answer `a` against `b`: the difference of their scores as `score` gives them (the margin a round acts on),
   * and P(a is better) as judged with `a` shown first and with `b` shown first (equal for a judge that never
   * sees an order).
   */
  compare(conversation: ChatMessage[], a: string, b: string, signal?: AbortSignal): Promise<PairComparison>;
};

export type PairComparison = { margin: number; aShownFirst: number; bShownFirst: number };
