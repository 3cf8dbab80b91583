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
};

export type FinishReason = "stop" | "length" | "cancelled";

export type ChatDelta = {
  /** New text of the answer. */
  text: string;
  /** Tokens generated for this piece of text. */
  tokens: number;
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
};
