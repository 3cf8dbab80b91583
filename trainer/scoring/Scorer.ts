// What the trainer's judges and its gate need of a model: exact log-likelihoods of text continuations and of
// assistant answers, from a GGUF loaded here (`engineScorer`) or from an OpenAI-compatible server (`RemoteScorer`).
import type { ChatMessage } from "../../inference/chatTypes.ts";

/** The log-likelihood of one continuation, as scored. */
export type ContinuationLikelihood = {
  /** The continuation's tokens in the scorer's vocabulary. */
  tokens: readonly number[];
  /** log p(token_i | prompt, tokens_<i), natural log. */
  tokenLogprobs: readonly number[];
  /** Sum of `tokenLogprobs`. */
  logprob: number;
};

/**
 * A prompt to continue: raw text (tokenized as lm-evaluation-harness does: trailing spaces move to the
 * continuations, BOS where the tokenizer asks for one), or a conversation whose open assistant turn the
 * continuations follow, as its chat template renders it.
 */
export type ScoringPrompt = string | readonly ChatMessage[];

export type ScoringOptions = {
  signal?: AbortSignal;
};

export interface Scorer {
  /** The model scored, for records and descriptions: its name here, or `MODEL at URL` for a remote one. */
  readonly label: string;
  /** Where it runs when not here: the server's base URL and the model id sent. */
  readonly remote?: { url: string; model: string };
  /** How many scoring calls are worth having in flight at once. */
  readonly parallel: number;
  /**
   * The log-likelihood of each continuation after `prompt`, the prompt evaluated once. With `truncateLeft` a
   * prompt too long for the context keeps its last tokens (room left for the longest continuation), as
   * lm-evaluation-harness does; without it, a prompt that does not fit is a `ContextLengthExceededError`.
   */
  scoreContinuations(
    prompt: ScoringPrompt,
    continuations: readonly string[],
    options?: ScoringOptions & { truncateLeft?: boolean },
  ): Promise<ContinuationLikelihood[]>;
  /**
   * The log-likelihood of each answer as the assistant's reply to `messages`: the answer's tokens as the chat
   * template renders them and the end-of-turn token, so an answer that stops is told from one that goes on.
   */
  scoreAnswers(
    messages: readonly ChatMessage[],
    answers: readonly string[],
    options?: ScoringOptions,
  ): Promise<ContinuationLikelihood[]>;
}
