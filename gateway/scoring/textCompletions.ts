// The legacy completions service: raw text completion and prompt scoring (`echo` with `logprobs`) on an
// in-process engine, as vLLM answers them, so evaluation harnesses and remote scorers can use medgate.
import { randomBytes } from "node:crypto";
import type { Token } from "node-llama-cpp";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { PromptScore } from "../../inference/scoreContinuations.ts";
import type { TextCompletionResult } from "../../inference/textCompletion.ts";
import { samplingOf, stopOf } from "../chat/chatRequestMapping.ts";
import { BadRequestError } from "../errors.ts";
import type { CompletionLogprobs, CompletionRequest, TextCompletion, Usage } from "../protocol.ts";

/** One prompt of a request, as tokens, with the text the answer echoes. */
export type Prompt = {
  tokens: Token[];
  text: string /** BOS was added in front of a text prompt. */;
  addedBos: boolean;
};

const noGeneration: TextCompletionResult = { tokens: [], text: "", finishReason: "length" };

/** What a request asks, checked: everything that can refuse it is refused here, before any output. */
export type TextCompletionPlan = {
  prompts: Prompt[];
  /** Choices per prompt. */
  n: number;
  maxTokens: number;
  echo: boolean;
  /** Alternatives per position with `logprobs`; null without. */
  top: number | null;
  sampling: ReturnType<typeof samplingOf>;
  stop: string[];
  seed: number | undefined;
};

export function planTextCompletion(engine: InferenceEngine, request: CompletionRequest): TextCompletionPlan {
  const prompts = promptsOf(engine, request.prompt);
  const maxTokens = request.max_tokens ?? 16;
  const { contextSize } = engine.info;
  for (const prompt of prompts) {
    if (prompt.tokens.length + maxTokens > contextSize) {
      const { message } = new ContextLengthExceededError(contextSize, prompt.tokens.length, maxTokens);
      throw new BadRequestError(message, "prompt", "context_length_exceeded");
    }
  }
  return {
    prompts,
    n: request.n ?? 1,
    maxTokens,
    echo: request.echo === true,
    top: request.logprobs ?? null,
    sampling: samplingOf(request),
    stop: stopOf(request),
    seed: request.seed ?? undefined,
  };
}

/** The `n` choices after one prompt, generated together; `onText` receives each choice's text as it comes. */
export async function generateChoices(
  engine: InferenceEngine,
  plan: TextCompletionPlan,
  prompt: Prompt,
  signal: AbortSignal,
  onText?: (choice: number, text: string) => void,
): Promise<TextCompletionResult[]> {
  if (plan.maxTokens === 0) return Array.from({ length: plan.n }, () => noGeneration);
  const generations = await Promise.all(
    Array.from({ length: plan.n }, (_, choice) =>
      engine.completeText(
        prompt.tokens,
        {
          maxTokens: plan.maxTokens,
          sampling: plan.sampling,
          seed: plan.seed === undefined ? undefined : plan.seed + choice,
          stop: plan.stop,
          onText: onText && ((text) => onText(choice, text)),
        },
        signal,
      ),
    ),
  );
  if (generations.some((generation) => generation.finishReason === "cancelled")) {
    throw signal.reason ?? new Error("The request was cancelled.");
  }
  return generations;
}

/**
 * lm-evaluation-harness's request (`max_tokens` 1 at temperature 0, one choice, no stop, with `logprobs`): the
 * token is the most likely one after the prompt, which scoring the prompt computes anyway.
 */
function oneGreedyToken(engine: InferenceEngine, plan: TextCompletionPlan): boolean {
  return (
    plan.top !== null &&
    plan.maxTokens === 1 &&
    plan.n === 1 &&
    plan.stop.length === 0 &&
    engine.picksGreedily(plan.sampling)
  );
}

/**
 * The prompt scored and continued by its most likely token in one pass, answered as `completeText` answers: an
 * end-of-generation token ends it ("stop", no text), another is its text ("length"). A token without whole text of
 * its own (a special token, part of a character) is left to `completeText` (undefined).
 */
async function pickScored(
  engine: InferenceEngine,
  prompt: Prompt,
  plan: TextCompletionPlan,
  signal: AbortSignal,
): Promise<{ generation: TextCompletionResult; score: PromptScore } | undefined> {
  const { score, next } = await engine.scorePromptAndPickNext(prompt.tokens, {
    top: Math.max(1, plan.top ?? 0),
    signal,
  });
  if (engine.model.isEogToken(next))
    return { generation: { tokens: [next], text: "", finishReason: "stop" }, score };
  const text = engine.model.detokenize([next], false);
  if (text === "" || text.includes("\uFFFD")) return undefined;
  return { generation: { tokens: [next], text, finishReason: "length" }, score };
}

export function newTextCompletionId(): string {
  return `cmpl-${randomBytes(18).toString("base64url")}`;
}

export async function createTextCompletion(
  engine: InferenceEngine,
  model: string,
  fingerprint: string,
  request: CompletionRequest,
  signal: AbortSignal,
): Promise<TextCompletion> {
  const plan = planTextCompletion(engine, request);
  const { prompts, n, echo, top } = plan;
  const generations: TextCompletionResult[][] = [];
  const picked: (PromptScore | undefined)[] = [];
  for (const prompt of prompts) {
    const pick = oneGreedyToken(engine, plan) ? await pickScored(engine, prompt, plan, signal) : undefined;
    if (pick) {
      generations.push([pick.generation]);
      picked.push(pick.score);
      continue;
    }
    // Scored before it is continued, the prompt is evaluated once: the generation and the scoring of its tokens
    // after it reuse the sequence's KV cache and the prompt's log-probabilities.
    if (top !== null && plan.maxTokens > 0)
      await engine.scorePrompts([prompt.tokens], { top: Math.max(1, top), signal });
    generations.push(await generateChoices(engine, plan, prompt, signal));
    picked.push(undefined);
  }
  // Every choice scored in one pass: choices of one prompt (and prompts of one question) share their beginning.
  const rest =
    top === null
      ? undefined
      : await engine.scorePrompts(
          prompts.flatMap((prompt, i) =>
            picked[i] ? [] : generations[i]!.map((generation) => [...prompt.tokens, ...generation.tokens]),
          ),
          { top: Math.max(1, top), signal },
        );
  const scored = rest && prompts.flatMap((_, i) => (picked[i] ? [picked[i]] : rest.splice(0, n)));
  const choices: TextCompletion["choices"] = [];
  prompts.forEach((prompt, i) => {
    generations[i]!.forEach((generation, choice) => {
      const index = i * n + choice;
      choices.push({
        text: echo ? prompt.text + generation.text : generation.text,
        index,
        logprobs: scored ? logprobsOf(engine, prompt, generation, scored[index]!, echo, top!) : null,
        finish_reason: finishReasonOf(generation),
      });
    });
  });
  return {
    id: newTextCompletionId(),
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    usage: usageOf(prompts, generations.flat()),
    system_fingerprint: fingerprint,
  };
}

export function finishReasonOf(generation: TextCompletionResult): "stop" | "length" {
  return generation.finishReason === "stop" ? "stop" : "length";
}

/** Usage as OpenAI counts it for the legacy API: every prompt, and every choice's tokens. */
export function usageOf(prompts: Prompt[], generations: TextCompletionResult[]): Usage {
  const promptTokens = prompts.reduce((sum, prompt) => sum + prompt.tokens.length, 0);
  const completionTokens = generations.reduce((sum, generation) => sum + generation.tokens.length, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The request's prompts as tokens: text is tokenized as vLLM does (BOS where wanted), token ids are checked. */
function promptsOf(engine: InferenceEngine, prompt: CompletionRequest["prompt"]): Prompt[] {
  const list: (string | number[])[] =
    typeof prompt === "string"
      ? [prompt]
      : typeof prompt[0] === "number"
        ? [prompt as number[]]
        : (prompt as (string | number[])[]);
  return list.map((entry, index) => {
    const param = list.length === 1 && !Array.isArray(prompt[0]) ? "prompt" : `prompt[${index}]`;
    if (typeof entry === "string") {
      return { tokens: engine.tokenize(entry), text: entry, addedBos: engine.addsBos };
    }
    const vocabulary = engine.vocabularySize;
    const bad = entry.find((token) => token >= vocabulary);
    if (bad !== undefined) {
      throw new BadRequestError(
        `Token id ${bad} is outside the model's vocabulary of ${vocabulary} tokens.`,
        param,
        "invalid_token",
      );
    }
    const tokens = entry as Token[];
    return { tokens, text: engine.detokenize(tokens), addedBos: false };
  });
}

/** The OpenAI logprobs object of one choice: the prompt's tokens too when echoed. */
function logprobsOf(
  engine: InferenceEngine,
  prompt: Prompt,
  generation: TextCompletionResult,
  score: PromptScore,
  echo: boolean,
  top: number,
): CompletionLogprobs {
  const all = [...prompt.tokens, ...generation.tokens];
  const from = echo ? 0 : prompt.tokens.length;
  const pieceOf = (token: Token) => engine.detokenize([token]);
  const tokens: string[] = [];
  const tokenLogprobs: (number | null)[] = [];
  const topLogprobs: (Record<string, number> | null)[] = [];
  const textOffset: number[] = [];
  let offset = 0;
  for (let i = from; i < all.length; i++) {
    const piece = pieceOf(all[i]!);
    tokens.push(piece);
    tokenLogprobs.push(score.tokenLogprobs[i] ?? null);
    const alternatives = score.topLogprobs[i];
    if (alternatives) {
      const entries: Record<string, number> = {};
      for (const [token, logprob] of alternatives.slice(0, top)) {
        const text = pieceOf(token);
        entries[text] = Math.max(entries[text] ?? Number.NEGATIVE_INFINITY, logprob);
      }
      // The scored token is listed too, as vLLM does (so up to `logprobs` + 1 entries).
      entries[piece] = Math.max(entries[piece] ?? Number.NEGATIVE_INFINITY, score.tokenLogprobs[i]!);
      topLogprobs.push(entries);
    } else topLogprobs.push(null);
    textOffset.push(offset);
    // An added BOS is not in the echoed text.
    if (!(i === 0 && prompt.addedBos)) offset += piece.length;
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: topLogprobs, text_offset: textOffset };
}
