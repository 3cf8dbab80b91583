// Exact log-likelihood of continuations after a shared prompt, evaluating the prompt once per call.
import type { ControlledEvaluateInputItem, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";

export type ContinuationScore = {
  /** The continuation's tokens, as scored. */
  tokens: Token[];
  /** log p(token_i | prompt, tokens_<i), natural log. */
  tokenLogprobs: number[];
  /** Sum of `tokenLogprobs`: the log-likelihood of the whole continuation. */
  logprob: number;
  /** Whether every token was the most likely one at its position (greedy match). */
  isGreedy: boolean;
  /** Per position, the most likely tokens and their log-probabilities, best first (when asked for). */
  topLogprobs?: [Token, number][][];
  /** With `pickNext`: the most likely token after the continuation, its log-probability and the best ones. */
  next?: { token: Token; logprob: number; topLogprobs: [Token, number][] };
};

export type ScoreInput = {
  /** Prompt tokens, BOS included where the model wants one. */
  promptTokens: Token[];
  continuations: Token[][];
};

/**
 * Tokenizes a text prompt and its continuations the way lm-evaluation-harness does: trailing spaces of
 * the prompt move to the front of each continuation, the prompt is tokenized alone, and a continuation's
 * tokens are the tail of the tokenized prompt + continuation after the prompt's token count.
 */
export function tokenizeForScoring(
  model: LlamaModel,
  prompt: string,
  continuations: readonly string[],
  options: {
    /** Prepend the model's BOS token when its tokenizer asks for one. Default: true */
    addBos?: boolean;
  } = {},
): ScoreInput {
  const trimmed = prompt.replace(/\s+$/u, "");
  const movedSpaces = prompt.slice(trimmed.length);
  const bos =
    (options.addBos ?? true) && model.tokens.shouldPrependBosToken && model.tokens.bos !== null
      ? [model.tokens.bos]
      : [];
  const promptTokens = [...bos, ...model.tokenize(trimmed, true)];
  const scored = continuations.map((continuation) => {
    const whole = [...bos, ...model.tokenize(trimmed + movedSpaces + continuation, true)];
    return whole.slice(promptTokens.length);
  });
  return { promptTokens, continuations: scored };
}

/**
 * Scores each continuation on `sequence`. The prompt minus its last token is evaluated once and kept
 * in the KV cache; each continuation then evaluates the last prompt token and its own tokens only.
 * log p(next) = logit(next) − logit(top) − ln(Σ exp(logit − logit(top))), read from llama.cpp without
 * building the full probability map.
 */
export async function scoreContinuations(
  sequence: LlamaContextSequence,
  input: ScoreInput,
  options: {
    /** How many of the most likely tokens to return per position (`topLogprobs`). Default: 0 */
    top?: number;
    /**
     * Also evaluate each continuation's last token and pick the most likely token after it (`next`), in the same
     * pass: a greedy continuation by one token, scored. Default: false
     */
    pickNext?: boolean;
  } = {},
): Promise<ContinuationScore[]> {
  const topCount = options.top ?? 0;
  const pickNext = options.pickNext ?? false;
  const { promptTokens } = input;
  if (promptTokens.length === 0) throw new Error("Scoring needs at least one prompt token (e.g. BOS).");
  const prefix = promptTokens.slice(0, -1);
  const lastPromptToken = promptTokens[promptTokens.length - 1]!;
  await evaluatePrefix(sequence, prefix);

  const scores: ContinuationScore[] = [];
  for (const continuation of input.continuations) {
    if (continuation.length === 0 && !pickNext) {
      scores.push({
        tokens: [],
        tokenLogprobs: [],
        logprob: 0,
        isGreedy: true,
        ...(topCount ? { topLogprobs: [] } : {}),
      });
      continue;
    }
    // Drop the previous continuation but keep the shared prefix in the cache.
    await sequence.adaptStateToTokens(prefix, false);
    const evaluated = [lastPromptToken, ...(pickNext ? continuation : continuation.slice(0, -1))];
    const inputs: ControlledEvaluateInputItem[] = evaluated.map((token, index) => [
      token,
      {
        generateNext:
          index < continuation.length
            ? nextTokenRequest(continuation[index]!, topCount)
            : { token: true, ...nextTokenRequest(undefined, topCount) },
      },
    ]);
    const outputs = await sequence.controlledEvaluate(inputs);
    const tokenLogprobs: number[] = [];
    const topLogprobs: [Token, number][][] = [];
    let isGreedy = true;
    continuation.forEach((token, index) => {
      const read = readLogprob(outputs[index]?.next, token, topCount, index);
      if (!read.greedy) isGreedy = false;
      tokenLogprobs.push(read.logprob);
      if (topCount) topLogprobs.push(read.top);
    });
    const picked = outputs[continuation.length]?.next?.token;
    if (pickNext && (picked === undefined || picked === null))
      throw new Error("llama.cpp picked no token after the continuation.");
    const next = pickNext
      ? readLogprob(outputs[continuation.length]?.next, picked!, topCount, continuation.length)
      : undefined;
    scores.push({
      tokens: continuation,
      tokenLogprobs,
      logprob: tokenLogprobs.reduce((sum, value) => sum + value, 0),
      isGreedy,
      ...(topCount ? { topLogprobs } : {}),
      ...(next ? { next: { token: picked!, logprob: next.logprob, topLogprobs: next.top } } : {}),
    });
  }
  return scores;
}

/** A token's log-probability from what llama.cpp returned after the position before it (see `nextTokenRequest`). */
function readLogprob(
  next: { logits?: Map<Token, number>; totalLogitWeight?: number } | undefined,
  token: Token,
  topCount: number,
  position: number,
): { logprob: number; top: [Token, number][]; greedy: boolean } {
  const logits = next?.logits;
  const total = next?.totalLogitWeight;
  const logit = logits?.get(token);
  const best = logits?.entries().next().value;
  if (logits === undefined || total === undefined || logit === undefined || best === undefined) {
    throw new Error(`llama.cpp returned no logits for continuation position ${position}.`);
  }
  const [, topLogit] = best;
  const logOfTotal = Math.log(total);
  return {
    logprob: logit - topLogit - logOfTotal,
    // The map is sorted by logit, best first; the scored token is in it even when it is not among the best.
    top: topCount
      ? [...logits].slice(0, topCount).map(([id, value]) => [id, value - topLogit - logOfTotal])
      : [],
    greedy: !(best[0] !== token && topLogit > logit),
  };
}

/**
 * What llama.cpp is asked for after each position: the scored token's logit, the best logit and the sum of
 * exp(logit − best) over the vocabulary. The best token is the greedy sampler's pick (`includeSelected`), so the
 * vocabulary is scanned, never sorted: asking for the top tokens (`includeTop`) sorts all of it at every position,
 * which costs more than the position's share of the forward pass. Only `top` > 1 needs that sort.
 */
function nextTokenRequest(token: Token | undefined, top: number) {
  const tokens = token === undefined ? [] : [token];
  return {
    logits: {
      filter:
        top > 1
          ? { tokens, includeTop: top, includeSelected: token === undefined }
          : { tokens, includeSelected: true },
    },
    totalLogitWeight: true,
  };
}

async function evaluatePrefix(sequence: LlamaContextSequence, prefix: Token[]): Promise<void> {
  await sequence.adaptStateToTokens(prefix, false);
  const missing = prefix.slice(sequence.nextTokenIndex);
  if (missing.length > 0) await sequence.evaluateWithoutGeneratingNewTokens(missing);
}

export type PromptScore = {
  /** log p(token_i | tokens_<i), natural log; null for the first token, which nothing precedes. */
  tokenLogprobs: (number | null)[];
  /** Per position, the `top` most likely tokens and their log-probabilities (null for the first token). */
  topLogprobs: ([Token, number][] | null)[];
};

/**
 * What a sequence last scored with `scorePrompts`: its tokens and their log-probabilities, kept beside the
 * sequence's KV cache. A log-probability depends only on the tokens up to its own, so it holds for any later
 * prompt that begins with the same tokens, whatever the sequence did since.
 */
type ScoredTokens = { tokens: Token[]; score: PromptScore; top: number };
const lastScored = new WeakMap<LlamaContextSequence, ScoredTokens>();

/**
 * The log-probability of every token of each prompt after the tokens before it: the `echo` of the legacy
 * completions API, which evaluation harnesses score with. The beginning a prompt shares with the one scored
 * before it on this sequence (the same request's previous prompt, or the previous request's: a question
 * followed by each of its answers) is not scored again: only the tail is evaluated, from the KV cache.
 */
export async function scorePrompts(
  sequence: LlamaContextSequence,
  prompts: readonly Token[][],
  top: number,
): Promise<PromptScore[]> {
  const scores: PromptScore[] = [];
  for (const prompt of prompts) scores.push((await scorePrompt(sequence, prompt, Math.max(1, top))).score);
  return scores;
}

/**
 * Scores `prompt` as `scorePrompts` does and picks the most likely token after it in the same pass: the greedy
 * continuation by one token (lm-evaluation-harness's `max_tokens` 1 at temperature 0). The score covers the prompt
 * and that token.
 */
export async function scorePromptAndPickNext(
  sequence: LlamaContextSequence,
  prompt: Token[],
  top: number,
): Promise<{ score: PromptScore; next: Token }> {
  const scored = await scorePrompt(sequence, prompt, Math.max(1, top), true);
  return { score: scored.score, next: scored.next! };
}

async function scorePrompt(
  sequence: LlamaContextSequence,
  prompt: Token[],
  top: number,
  pickNext = false,
): Promise<{ score: PromptScore; next?: Token }> {
  const previous = lastScored.get(sequence);
  // The first token has no log-probability: with nothing to reuse, scoring starts after it. A pick needs the
  // prompt's last token evaluated, so at least that one is.
  const shared = previous && previous.top >= top ? commonPrefixLength([previous.tokens, prompt]) : 0;
  const known = Math.max(1, pickNext ? Math.min(shared, prompt.length - 1) : shared);
  const reused = {
    tokenLogprobs: [null, ...(previous?.score.tokenLogprobs.slice(1, known) ?? [])],
    topLogprobs: [
      null,
      ...(previous?.score.topLogprobs.slice(1, known).map((each) => each!.slice(0, top)) ?? []),
    ],
  };
  if (known >= prompt.length && !pickNext)
    return {
      score: {
        tokenLogprobs: reused.tokenLogprobs.slice(0, prompt.length),
        topLogprobs: reused.topLogprobs.slice(0, prompt.length),
      },
    };
  const [tail] = await scoreContinuations(
    sequence,
    { promptTokens: prompt.slice(0, known), continuations: [prompt.slice(known)] },
    { top, pickNext },
  );
  const next = tail!.next;
  const score: PromptScore = {
    tokenLogprobs: [...reused.tokenLogprobs, ...tail!.tokenLogprobs, ...(next ? [next.logprob] : [])],
    topLogprobs: [...reused.topLogprobs, ...tail!.topLogprobs!, ...(next ? [next.topLogprobs] : [])],
  };
  lastScored.set(sequence, { tokens: next ? [...prompt, next.token] : prompt, score, top });
  return { score, next: next?.token };
}

function commonPrefixLength(prompts: readonly Token[][]): number {
  const first = prompts[0] ?? [];
  let length = first.length;
  for (const prompt of prompts.slice(1)) {
    let i = 0;
    while (i < length && i < prompt.length && prompt[i] === first[i]) i++;
    length = i;
  }
  return length;
}
