// Raw text completion on a lent sequence: prompt tokens in, generated tokens out, no chat template (the legacy
// completions API, which evaluation harnesses use).
import { LlamaCompletion, type LlamaContextSequence, type Token } from "node-llama-cpp";
import type { SamplingOptions } from "./chatTypes.ts";

export type TextCompletionRequest = {
  /** The prompt as tokens, BOS included where wanted. */
  promptTokens: Token[];
  /** Most tokens to generate (at least 1). */
  maxTokens: number;
  sampling: SamplingOptions;
  seed?: number;
  /** Strings that end the output; they are not included in it. */
  stop: string[];
  signal?: AbortSignal;
};

export type TextCompletionResult = {
  /** The generated tokens (a stop string's tokens excluded). */
  tokens: Token[];
  text: string;
  finishReason: "stop" | "length" | "cancelled";
};

export async function completeText(
  sequence: LlamaContextSequence,
  request: TextCompletionRequest,
): Promise<TextCompletionResult> {
  const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
  const tokens: Token[] = [];
  try {
    const { sampling } = request;
    const { response, metadata } = await completion.generateCompletionWithMeta(request.promptTokens, {
      signal: request.signal,
      stopOnAbortSignal: true,
      maxTokens: request.maxTokens,
      temperature: sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      minP: sampling.minP,
      seed: request.seed,
      repeatPenalty: {
        penalty: sampling.repeatPenalty,
        frequencyPenalty: sampling.frequencyPenalty || undefined,
        presencePenalty: sampling.presencePenalty || undefined,
      },
      customStopTriggers: request.stop.length > 0 ? request.stop : undefined,
      onToken: (chunk) => tokens.push(...chunk),
    });
    const finishReason =
      metadata.stopReason === "maxTokens" ? "length" : metadata.stopReason === "abort" ? "cancelled" : "stop";
    // A stop string's tokens were generated but are not part of the answer: keep the tokens of the text only.
    const kept = response.length === 0 ? [] : trimToText(sequence, tokens, response);
    return { tokens: kept, text: response, finishReason };
  } finally {
    completion.dispose({ disposeSequence: false });
  }
}

/** The shortest prefix of `tokens` whose text covers `text` (binary search: a prefix's text only grows). */
function trimToText(sequence: LlamaContextSequence, tokens: Token[], text: string): Token[] {
  const covers = (length: number) =>
    sequence.model.detokenize(tokens.slice(0, length), false).length >= text.length;
  let low = 1;
  let high = tokens.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (covers(middle)) high = middle;
    else low = middle + 1;
  }
  return tokens.slice(0, low);
}
