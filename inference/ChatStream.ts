// One running chat generation on a lent sequence: an async iterator of text deltas and a final result.
import type { ChatHistoryItem, ChatWrapper, LlamaContextSequence, LlamaGrammar, Token } from "node-llama-cpp";
import { LlamaChat } from "node-llama-cpp";
import type { ChatDelta, ChatResult, FinishReason, SamplingOptions, TokenLogprob } from "./chatTypes.ts";
import { DeltaQueue } from "./DeltaQueue.ts";
import type { GenerationSpan } from "./generationSpan.ts";
import { scoreContinuations } from "./scoreContinuations.ts";
import { tokenBytes } from "./tokenBytes.ts";

export type ChatStreamInit = {
  sequence: LlamaContextSequence;
  chatWrapper: ChatWrapper;
  history: ChatHistoryItem[];
  promptTokens: number;
  /**
   * With `logprobs`: the rendered prompt, after which the answer's tokens are scored once it has ended, and how
   * many of the likeliest tokens each position lists. The deltas then come when the answer is scored, each with
   * the log-probabilities of its tokens.
   */
  logprobs?: { prompt: Token[]; top: number };
  maxTokens: number;
  sampling: SamplingOptions;
  seed: number | undefined;
  stop: string[];
  grammar: LlamaGrammar | undefined;
  signal: AbortSignal | undefined;
  /** The generation's span; it gets the first token and the result, and ends with the generation. */
  span?: GenerationSpan;
  /**
   * How long a cancelled generation may take to stop before it is given up: llama.cpp can leave an evaluation
   * that never settles (a sampler failure inside node-llama-cpp's batch dispatch), and the request must still
   * end and its slot come back. Default: 5000 ms
   */
  abandonAfterMs?: number;
  /** Maps an engine failure onto the error the caller sees. Default: as it is */
  failureOf?(error: unknown): unknown;
  /**
   * Called once to hand the sequence back: after generation has fully stopped, or with `stuck` when it was
   * given up (the sequence must then not be used again).
   */
  release(sequence: LlamaContextSequence, stuck: boolean): void;
};

export class ChatStream implements AsyncIterable<ChatDelta> {
  /** Settles when generation ends: resolves with the whole answer, or rejects on an engine failure. */
  readonly result: Promise<ChatResult>;
  readonly #deltas = new DeltaQueue("A ChatStream");
  readonly #abort = new AbortController();

  constructor(init: ChatStreamInit) {
    const onCallerAbort = () => this.#abort.abort(init.signal?.reason);
    if (init.signal?.aborted) onCallerAbort();
    else init.signal?.addEventListener("abort", onCallerAbort, { once: true });
    this.result = this.#run(init)
      .then(
        (result) => {
          init.span?.end(result);
          return result;
        },
        (error: unknown) => {
          init.span?.fail(error);
          throw error;
        },
      )
      .finally(() => {
        init.signal?.removeEventListener("abort", onCallerAbort);
        this.#deltas.end();
      });
    // The result is also observed through iteration; keep an unobserved rejection from crashing the process.
    this.result.catch(() => {});
  }

  /** Stops generation; the result resolves with finish reason `cancelled`. */
  cancel(reason?: unknown): void {
    this.#abort.abort(reason);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatDelta> {
    return this.#deltas.read(this.result);
  }

  async #run(init: ChatStreamInit): Promise<ChatResult> {
    const { sequence } = init;
    const started = performance.now();
    let firstTextAt: number | null = null;
    let text = "";
    // Every generated token (thought segments too, as they sit in the context), and the answer's pieces held back
    // until they are scored, each with where its tokens start.
    const generated: Token[] = [];
    const held: (ChatDelta & { from: number })[] = [];
    const outputBefore = sequence.tokenMeter.usedOutputTokens;
    const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: init.chatWrapper });
    const signal = this.#abort.signal;
    let stuck = false;
    let abandonTimer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<"abandoned">((resolve) => {
      const onAbort = () => {
        abandonTimer = setTimeout(resolve, init.abandonAfterMs ?? 5000, "abandoned");
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      if (signal.aborted) return this.#resultOf("", "cancelled", init, 0, started, null);
      const { sampling } = init;
      const generation = chat.generateResponse(init.history, {
        signal,
        stopOnAbortSignal: true,
        maxTokens: init.maxTokens,
        temperature: sampling.temperature,
        topP: sampling.topP,
        topK: sampling.topK,
        minP: sampling.minP,
        seed: init.seed,
        repeatPenalty: {
          penalty: sampling.repeatPenalty,
          frequencyPenalty: sampling.frequencyPenalty || undefined,
          presencePenalty: sampling.presencePenalty || undefined,
        },
        customStopTriggers: init.stop.length > 0 ? init.stop : undefined,
        grammar: init.grammar,
        onResponseChunk: (chunk) => {
          generated.push(...chunk.tokens);
          // Thought segments count as generated tokens but are not part of the answer text.
          if (chunk.type !== undefined) return;
          if (chunk.text === "" && chunk.tokens.length === 0) return;
          if (firstTextAt === null && chunk.text !== "") {
            firstTextAt = performance.now();
            init.span?.firstToken(firstTextAt - started);
          }
          text += chunk.text;
          const delta = { text: chunk.text, tokens: chunk.tokens.length };
          if (init.logprobs) held.push({ ...delta, from: generated.length - chunk.tokens.length });
          else this.#deltas.push(delta);
        },
      });
      const response = await Promise.race([generation, abandoned]);
      if (response === "abandoned") {
        stuck = true;
        generation.catch(() => {});
        const completionTokens = sequence.tokenMeter.usedOutputTokens - outputBefore;
        return this.#resultOf(text, "cancelled", init, completionTokens, started, firstTextAt);
      }
      const completionTokens = sequence.tokenMeter.usedOutputTokens - outputBefore;
      const finishReason = finishReasonOf(response.metadata.stopReason);
      // The answer is exactly the streamed text, so streamed and whole answers never disagree.
      const result = this.#resultOf(text, finishReason, init, completionTokens, started, firstTextAt);
      if (!init.logprobs || finishReason === "cancelled") return result;
      const scored = await answerLogprobs(sequence, init.logprobs, generated);
      const answer: TokenLogprob[] = [];
      // A piece without text (part of a character) hands its tokens on to the next piece that has text.
      let carried: TokenLogprob[] = [];
      for (const { from, ...delta } of held.splice(0)) {
        const logprobs = scored.slice(from, from + delta.tokens);
        answer.push(...logprobs);
        carried = [...carried, ...logprobs];
        if (delta.text === "") continue;
        this.#deltas.push({ ...delta, logprobs: carried });
        carried = [];
      }
      return { ...result, logprobs: answer };
    } catch (error) {
      if (this.#abort.signal.aborted) {
        const completionTokens = sequence.tokenMeter.usedOutputTokens - outputBefore;
        return this.#resultOf(text, "cancelled", init, completionTokens, started, firstTextAt);
      }
      throw init.failureOf ? init.failureOf(error) : error;
    } finally {
      // A cancelled or failed answer's held pieces go out as they are.
      for (const { from: _, ...delta } of held) this.#deltas.push(delta);
      clearTimeout(abandonTimer);
      chat.dispose({ disposeSequence: false });
      init.release(sequence, stuck);
    }
  }

  #resultOf(
    text: string,
    finishReason: FinishReason,
    init: ChatStreamInit,
    completionTokens: number,
    started: number,
    firstTextAt: number | null,
  ): ChatResult {
    return {
      text,
      finishReason,
      promptTokens: init.promptTokens,
      completionTokens,
      timeToFirstTokenMs: firstTextAt === null ? null : firstTextAt - started,
      generationMs: performance.now() - started,
    };
  }
}

/**
 * The log-probability of each generated token after the prompt and the tokens before it, read on the sequence that
 * generated them (the prompt is still in its cache), with the `top` likeliest tokens at each position.
 */
async function answerLogprobs(
  sequence: LlamaContextSequence,
  asked: { prompt: Token[]; top: number },
  generated: Token[],
): Promise<TokenLogprob[]> {
  if (generated.length === 0) return [];
  const [score] = await scoreContinuations(
    sequence,
    { promptTokens: asked.prompt, continuations: [generated] },
    { top: Math.max(1, asked.top) },
  );
  const { model } = sequence;
  return generated.map((token, i) => ({
    ...tokenBytes(model, token),
    logprob: score!.tokenLogprobs[i]!,
    top: (score!.topLogprobs?.[i] ?? [])
      .slice(0, asked.top)
      .map(([alternative, logprob]) => ({ ...tokenBytes(model, alternative), logprob })),
  }));
}

function finishReasonOf(stopReason: string): FinishReason {
  switch (stopReason) {
    case "maxTokens":
      return "length";
    case "abort":
      return "cancelled";
    default:
      return "stop";
  }
}
