// The legacy completions service: raw text completion and prompt scoring (`echo` with `logprobs`) on an
// in-process engine, as vLLM answers them, so evaluation harnesses and remote scorers can use medgate.
import { randomBytes } from "node:crypto";
import type { Token } from "node-llama-cpp";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { PromptScore } from "../../inference/scoreContinuations.ts";
import type { TextCompletionResult } from "../../inference/textCompletion.ts";
import { samplingOf, stopOf } from "../chat/chatRequestMapping.ts";
import { BadRequestError } from "../errors.ts";
import type { CompletionLogprobs, CompletionRequest, TextCompletion } from "../protocol.ts";

/** One prompt of a request, as tokens, with the text the answer echoes. */
type Prompt = {
  tokens: Token[];
  text: string /** BOS was added in front of a text prompt. */;
  addedBos: boolean;
};

const noGeneration: TextCompletionResult = { tokens: [], text: "", finishReason: "length" };

export async function createTextCompletion(
  engine: InferenceEngine,
  model: string,
  fingerprint: string,
  request: CompletionRequest,
  signal: AbortSignal,
): Promise<TextCompletion> {
  refuseUnsupported(request);
  const prompts = promptsOf(engine, request.prompt);
  const n = request.n ?? 1;
  const maxTokens = request.max_tokens ?? 16;
  const echo = request.echo === true;
  const top = request.logprobs ?? null;
  if (maxTokens === 0 && !echo) {
    throw new BadRequestError(
      "max_tokens 0 generates nothing: send echo: true to score the prompt, or at least 1 token.",
      "max_tokens",
    );
  }
  const sampling = samplingOf(request);
  const stop = stopOf(request);
  const generations: TextCompletionResult[][] = [];
  for (const prompt of prompts) {
    generations.push(
      maxTokens === 0
        ? Array.from({ length: n }, () => noGeneration)
        : await Promise.all(
            Array.from({ length: n }, (_, choice) =>
              engine.completeText(
                prompt.tokens,
                {
                  maxTokens,
                  sampling,
                  seed: request.seed == null ? undefined : request.seed + choice,
                  stop,
                },
                signal,
              ),
            ),
          ),
    );
    if (generations.at(-1)!.some((generation) => generation.finishReason === "cancelled")) {
      throw signal.reason ?? new Error("The request was cancelled.");
    }
  }
  // Every choice scored in one pass: choices of one prompt (and prompts of one question) share their beginning.
  const scored =
    top === null
      ? undefined
      : await engine.scorePrompts(
          prompts.flatMap((prompt, i) =>
            generations[i]!.map((generation) => [...prompt.tokens, ...generation.tokens]),
          ),
          { top: Math.max(1, top), signal },
        );
  const choices: TextCompletion["choices"] = [];
  prompts.forEach((prompt, i) => {
    generations[i]!.forEach((generation, choice) => {
      const index = i * n + choice;
      choices.push({
        text: echo ? prompt.text + generation.text : generation.text,
        index,
        logprobs: scored ? logprobsOf(engine, prompt, generation, scored[index]!, echo, top!) : null,
        finish_reason: generation.finishReason === "stop" ? "stop" : "length",
      });
    });
  });
  const promptTokens = prompts.reduce((sum, prompt) => sum + prompt.tokens.length, 0);
  const completionTokens = generations.flat().reduce((sum, generation) => sum + generation.tokens.length, 0);
  return {
    id: `cmpl-${randomBytes(18).toString("base64url")}`,
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
    system_fingerprint: fingerprint,
  };
}

function refuseUnsupported(request: CompletionRequest): void {
  if (request.stream) {
    throw new BadRequestError(
      "stream is not supported on /v1/completions (it serves scoring and evaluation); use /v1/chat/completions to stream.",
      "stream",
    );
  }
  if (request.suffix) throw new BadRequestError("suffix (insertion) is not supported.", "suffix");
  if (request.best_of != null && request.best_of > 1)
    throw new BadRequestError("best_of above 1 is not supported.", "best_of");
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0)
    throw new BadRequestError("logit_bias is not supported.", "logit_bias");
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
      if (entry === "") throw new BadRequestError("A prompt must not be empty.", param);
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
