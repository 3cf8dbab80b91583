// The engine's own request and result shapes for chat generation (the gateway maps OpenAI's onto them).

export type ChatRole = "system" | "user" | "assistant";

export type ChatMessage = { role: ChatRole; content: string };

/** Constrains the output. `json_object`: any JSON object; `json_schema`: JSON valid against the schema. */
export type ResponseConstraint =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; schema: unknown };

export type SamplingOptions = {
  /** 0 picks the most likely token. */
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  /** Multiplier applied to recently generated tokens; 1 disables it. */
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
};

export type ChatRequest = {
  messages: ChatMessage[];
  /** Most tokens to generate; unset means up to the end of the context. */
  maxTokens?: number;
  sampling?: Partial<SamplingOptions>;
  /** Random seed; the same seed, prompt and settings give the same output. */
  seed?: number;
  /** Strings that end the output; they are not included in it. */
  stop?: string[];
  responseFormat?: ResponseConstraint;
  /** Each answer token's log-probability, with the `top` likeliest tokens at its position (0: none). */
  logprobs?: { top: number };
};

/** A token's text (its bytes read as UTF-8) and bytes, with its log-probability (natural log). */
export type TokenChoice = { text: string; bytes: number[]; logprob: number };

/** An answer token's log-probability and the likeliest tokens at its position, best first. */
export type TokenLogprob = TokenChoice & { top: TokenChoice[] };

export type FinishReason = "stop" | "length" | "cancelled";

export type ChatDelta = {
  /** New text of the answer. */
  text: string;
  /** Tokens generated for this piece of text. */
  tokens: number;
  /** With `logprobs` asked: those of this piece's tokens. */
  logprobs?: TokenLogprob[];
};

export type ChatResult = {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Milliseconds from the start of generation to the first text, if any text came. */
  timeToFirstTokenMs: number | null;
  /** Milliseconds from the start of generation to its end. */
  generationMs: number;
  /** With `logprobs` asked: those of every answer token. */
  logprobs?: TokenLogprob[];
};
