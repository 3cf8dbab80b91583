// Raw text completion on a lent sequence: prompt tokens in, generated tokens out, no chat template (the legacy
// completions API, which evaluation harnesses use).
import { LlamaCompletion, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
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
  /** Receives the text as it is generated (a stop string's text never reaches it). */
  onText?: (text: string) => void;
};

export type TextCompletionResult = {
  /**
   * The generated tokens: a stop string's tokens excluded, the end-of-generation token that ended it included
   * (it has no text), as vLLM and OpenAI count and echo it.
   */
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
      onTextChunk: request.onText,
    });
    const finishReason =
      metadata.stopReason === "maxTokens" ? "length" : metadata.stopReason === "abort" ? "cancelled" : "stop";
    // A stop string's tokens were generated but are not part of the answer: keep the tokens of the text only.
    const kept = response.length === 0 ? [] : trimToText(sequence, tokens, response);
    const end = metadata.stopReason === "eogToken" ? await endOfGenerationToken(sequence) : undefined;
    if (end !== undefined) kept.push(end);
    return { tokens: kept, text: response, finishReason };
  } finally {
    completion.dispose({ disposeSequence: false });
  }
}

/**
 * The end-of-generation token that stopped a generation, which node-llama-cpp does not hand out: the likeliest
 * one after the sequence's last token (exactly the one sampled where sampling is greedy, as scoring's is).
 */
async function endOfGenerationToken(sequence: LlamaContextSequence): Promise<Token | undefined> {
  const { model } = sequence;
  const context = sequence.contextTokens;
  const candidates = endOfGenerationTokens(model);
  const [last] = context.slice(-1);
  if (last === undefined || candidates.length <= 1) return candidates[0];
  await sequence.adaptStateToTokens(context.slice(0, -1), false);
  const [output] = await sequence.controlledEvaluate([
    [last, { generateNext: { logits: { filter: { tokens: candidates, includeTop: 1 } } } }],
  ]);
  // The map is sorted by logit, best first.
  for (const [token] of output?.next?.logits ?? []) if (model.isEogToken(token)) return token;
  return candidates[0];
}

const endOfGenerationCache = new WeakMap<LlamaModel, Token[]>();

/** Every token that ends a generation, EOS first. */
function endOfGenerationTokens(model: LlamaModel): Token[] {
  let tokens = endOfGenerationCache.get(model);
  if (!tokens) {
    const size = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
    const all = Array.from({ length: size }, (_, id) => id as Token).filter((token) =>
      model.isEogToken(token),
    );
    const eos = model.tokens.eos;
    tokens = eos === null ? all : [eos, ...all.filter((token) => token !== eos)];
    endOfGenerationCache.set(model, tokens);
  }
  return tokens;
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
