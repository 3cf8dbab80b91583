// A loaded GGUF chat model: one context whose parallel sequences serve generation and scoring requests.
import { stat } from "node:fs/promises";
import type {
  ChatHistoryItem,
  ChatWrapper,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
} from "node-llama-cpp";
import { ChatStream } from "./ChatStream.ts";
import type { ChatTemplateFamily } from "./catalog.ts";
import { chatHistoryOf } from "./chatHistory.ts";
import type { ChatMessage, ChatRequest, SamplingOptions } from "./chatTypes.ts";
import { chatWrapperFor } from "./chatWrapperFor.ts";
import { ContextLengthExceededError, EngineUnavailableError } from "./errors.ts";
import { GrammarCache } from "./GrammarCache.ts";
import { GenerationSpan } from "./generationSpan.ts";
import { SequencePool, type SequencePoolStats } from "./SequencePool.ts";
import { guardSampler } from "./samplerGuard.ts";
import {
  type ContinuationScore,
  type PromptScore,
  scoreContinuations,
  scorePromptAndPickNext,
  scorePrompts,
  tokenizeForScoring,
} from "./scoreContinuations.ts";
import { allowThreads, type GpuChoice, sharedLlama } from "./sharedLlama.ts";
import { completeText, type TextCompletionResult } from "./textCompletion.ts";
import { defaultThreadCount } from "./threadDefaults.ts";

/** llama-server's sampling defaults, so answers match what users of llama.cpp already know. */
export const defaultSampling: SamplingOptions = {
  temperature: 0.8,
  topP: 0.95,
  topK: 40,
  minP: 0.05,
  repeatPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
};

export type InferenceEngineOptions = {
  /** Path of the GGUF file. */
  modelPath: string;
  /** The name clients use for this model. */
  modelName: string;
  /** Sequences that generate at once, batched together. Default: 4 */
  parallel?: number;
  /** Tokens per sequence (prompt + completion). Default: the model's training context, at most 4096 */
  contextSize?: number;
  /** llama.cpp threads. Default: see `defaultThreadCount` (1 for models under 64 MB, else the CPU's math cores) */
  threads?: number;
  /**
   * Cores the default thread count leaves to the process's JavaScript thread: 1 for a server (see
   * `defaultThreadCount`). Default: 0
   */
  reservedCores?: number;
  /**
   * How many engines compute at the same time on this CPU, this one included: the thread count is divided
   * by it, so that engines working together never run more threads than there are cores (llama.cpp's
   * threads spin while they wait, and oversubscribed they slow each other down many times). Default: 1
   */
  cpuShare?: number;
  /** Requests that may wait for a free sequence before new ones are refused as overloaded. Default: 64 */
  maxQueue?: number;
  /**
   * Precision of the KV cache. `f32` with flash attention off makes log-likelihoods match a float32
   * reference (transformers) to ~1e-6 per token, at twice the cache memory; `f16` differs by up to ~5e-3.
   * Default: "f16"
   */
  kvCache?: "f16" | "f32";
  /** Flash attention; forced off when `kvCache` is "f32". Default: "auto" */
  flashAttention?: "auto" | boolean;
  /** Compute backend. Default: "auto" */
  gpu?: GpuChoice;
  /** How to render conversations when the GGUF carries no chat template. Default: node-llama-cpp's guess */
  chatTemplateFallback?: ChatTemplateFamily;
  /** System prompt used when a conversation has none. Default: none */
  defaultSystemPrompt?: string;
  /** Sampling used where a request sets none. Default: `defaultSampling` */
  sampling?: Partial<SamplingOptions>;
};

export type EngineInfo = {
  modelName: string;
  modelPath: string;
  fileBytes: number;
  fileModifiedAt: Date;
  architecture: string | undefined;
  trainContextSize: number;
  contextSize: number;
  parallel: number;
  threads: number;
  chatTemplate: string;
  defaultSystemPrompt: string | undefined;
};

export class InferenceEngine {
  readonly info: EngineInfo;
  readonly model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #pool: SequencePool;
  readonly #chatWrapper: ChatWrapper;
  readonly #sampling: SamplingOptions;
  readonly #grammars: GrammarCache;
  readonly #samplerGuard: ReturnType<typeof guardSampler>;
  #disposed = false;

  private constructor(init: {
    info: EngineInfo;
    model: LlamaModel;
    context: LlamaContext;
    pool: SequencePool;
    chatWrapper: ChatWrapper;
    sampling: SamplingOptions;
  }) {
    this.#samplerGuard = guardSampler(init.context);
    this.#grammars = new GrammarCache(init.model.llama);
    this.info = init.info;
    this.model = init.model;
    this.#context = init.context;
    this.#pool = init.pool;
    this.#chatWrapper = init.chatWrapper;
    this.#sampling = init.sampling;
  }

  static async load(options: InferenceEngineOptions): Promise<InferenceEngine> {
    const file = await stat(options.modelPath);
    const llama = await sharedLlama(options.gpu ?? "auto");
    const threads = Math.max(
      1,
      Math.floor(
        (options.threads ?? defaultThreadCount(file.size, llama.cpuMathCores, options.reservedCores)) /
          (options.cpuShare ?? 1),
      ),
    );
    allowThreads(llama, threads);
    const parallel = options.parallel ?? 4;
    const model = await llama.loadModel({ modelPath: options.modelPath });
    try {
      const trainContextSize = model.trainContextSize;
      const contextSize = options.contextSize ?? Math.min(trainContextSize, 4096);
      const context = await model.createContext({
        contextSize,
        sequences: parallel,
        // Up to `threads`, down to 1 while other contexts of this process decode too (see `sharedLlama`).
        threads: { ideal: threads, min: 1 },
        // Generation and scoring may need large batches; never let one sequence's prompt be split needlessly.
        batchSize: Math.min(contextSize, 2048),
        ...(options.kvCache === "f32"
          ? { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }
          : { flashAttention: options.flashAttention ?? "auto" }),
      });
      const sequences = Array.from({ length: parallel }, () => context.getSequence());
      const chatWrapper = chatWrapperFor(model, options.chatTemplateFallback);
      return new InferenceEngine({
        info: {
          modelName: options.modelName,
          modelPath: options.modelPath,
          fileBytes: file.size,
          fileModifiedAt: file.mtime,
          architecture: model.fileInfo.metadata.general?.architecture,
          trainContextSize,
          contextSize: context.contextSize,
          parallel,
          threads,
          chatTemplate: chatWrapper.wrapperName,
          defaultSystemPrompt: options.defaultSystemPrompt,
        },
        model,
        context,
        pool: new SequencePool(sequences, { maxQueue: options.maxQueue ?? 64 }),
        chatWrapper,
        sampling: { ...defaultSampling, ...options.sampling },
      });
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  /** Tokens in the model's vocabulary: every token id is below it (0 when the GGUF does not list them). */
  get vocabularySize(): number {
    return this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
  }

  get poolStats(): SequencePoolStats {
    return this.#pool.stats;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Checks the request, waits for a free sequence and starts generating. Everything that can refuse the
   * request (bad schema, too long, overloaded) throws here, before any output exists.
   */
  async startChat(request: ChatRequest, signal?: AbortSignal): Promise<ChatStream> {
    this.#assertLive();
    const history = this.#historyOf(request.messages);
    const prompt = this.#promptTokens(history);
    const promptTokens = prompt.length;
    const contextSize = this.info.contextSize;
    if (promptTokens >= contextSize)
      throw new ContextLengthExceededError(contextSize, promptTokens, undefined);
    if (request.maxTokens !== undefined && promptTokens + request.maxTokens > contextSize) {
      throw new ContextLengthExceededError(contextSize, promptTokens, request.maxTokens);
    }
    const span = new GenerationSpan(this.info.modelName, promptTokens);
    let sequence: LlamaContextSequence;
    let grammar: LlamaGrammar | undefined;
    try {
      grammar = await this.#grammars.grammarFor(request.responseFormat);
      sequence = await this.#pool.acquire(signal);
    } catch (error) {
      span.fail(error);
      throw error;
    }
    span.acquired();
    return new ChatStream({
      span,
      sequence,
      chatWrapper: this.#chatWrapper,
      history,
      promptTokens,
      logprobs: request.logprobs && { prompt, top: request.logprobs.top },
      maxTokens: request.maxTokens ?? contextSize - promptTokens,
      sampling: { ...this.#sampling, ...request.sampling },
      seed: request.seed,
      stop: request.stop ?? [],
      grammar,
      signal,
      failureOf: (error) => this.#samplerGuard.failureOf(error),
      release: (lent, stuck) => (stuck ? this.#replaceStuck(lent) : this.#pool.release(lent)),
    });
  }

  /**
   * Exact log-likelihood of each continuation after `prompt`, on one sequence, the prompt evaluated once.
   * Text inputs are tokenized the way lm-evaluation-harness does; token inputs are scored as given.
   */
  async scoreContinuations(
    prompt: string | Token[],
    continuations: readonly (string | Token[])[],
    options: {
      signal?: AbortSignal;
      /** For text prompts: prepend BOS when the model's tokenizer asks for one. Default: true */
      addBos?: boolean;
      /**
       * A prompt too long for the context keeps its last tokens (room left for the longest continuation),
       * as lm-evaluation-harness truncates, instead of failing. Default: false
       */
      truncateLeft?: boolean;
    } = {},
  ): Promise<ContinuationScore[]> {
    this.#assertLive();
    const input =
      typeof prompt === "string"
        ? tokenizeForScoring(
            this.model,
            prompt,
            continuations.map((continuation) =>
              typeof continuation === "string" ? continuation : this.model.detokenize(continuation, true),
            ),
            { addBos: options.addBos },
          )
        : {
            promptTokens: prompt,
            continuations: continuations.map((continuation) =>
              typeof continuation === "string" ? this.model.tokenize(continuation, false) : continuation,
            ),
          };
    const longest = Math.max(0, ...input.continuations.map((tokens) => tokens.length));
    if (options.truncateLeft && longest < this.info.contextSize)
      input.promptTokens = input.promptTokens.slice(-(this.info.contextSize - longest));
    if (input.promptTokens.length + longest > this.info.contextSize) {
      throw new ContextLengthExceededError(this.info.contextSize, input.promptTokens.length, longest);
    }
    const sequence = await this.#pool.acquire(options.signal);
    try {
      return await scoreContinuations(sequence, input);
    } finally {
      this.#pool.release(sequence);
    }
  }

  /**
   * Exact log-likelihood of each answer as the assistant's reply to `messages`: the answer's tokens as the
   * chat template renders them, followed by the end-of-turn token, so a reply that stops and one that goes on
   * are told apart. The conversation is evaluated once for all answers.
   */
  async scoreAnswers(
    messages: ChatMessage[],
    answers: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<ContinuationScore[]> {
    this.#assertLive();
    const history = this.#historyOf(messages);
    const promptTokens = this.#promptTokens(history);
    const end = this.model.tokens.eot ?? this.model.tokens.eos;
    const continuations = answers.map((answer) => {
      const whole = this.#promptTokens([...history.slice(0, -1), { type: "model", response: [answer] }]);
      const rendered = promptTokens.every((token, i) => whole[i] === token)
        ? whole.slice(promptTokens.length)
        : this.model.tokenize(answer, false);
      return end === null ? rendered : [...rendered, end];
    });
    return this.scoreContinuations(promptTokens, continuations, options);
  }

  /** Tokens of the rendered prompt of a conversation, ready for `scoreContinuations`. */
  promptTokensOf(messages: ChatMessage[]): Token[] {
    return this.#promptTokens(this.#historyOf(messages));
  }

  /** Log-likelihood of each text continuation right after the conversation's open assistant turn. */
  scoreChatContinuations(
    messages: ChatMessage[],
    continuations: readonly string[],
    options: { signal?: AbortSignal; truncateLeft?: boolean } = {},
  ): Promise<ContinuationScore[]> {
    return this.scoreContinuations(this.promptTokensOf(messages), continuations, options);
  }

  /**
   * A conversation's tokens as the chat template renders it. `generationPrompt`: an open assistant turn is
   * added after a last message that is not the assistant's (default true). `closeFinal`: a last assistant
   * message is closed with the end-of-turn token, as `scoreAnswers` scores a finished answer (default false).
   */
  renderChat(
    messages: ChatMessage[],
    options: { generationPrompt?: boolean; closeFinal?: boolean } = {},
  ): Token[] {
    const tokens = this.#promptTokens(this.#historyOf(messages, options.generationPrompt ?? true));
    const end = this.model.tokens.eot ?? this.model.tokens.eos;
    return options.closeFinal && messages.at(-1)?.role === "assistant" && end !== null
      ? [...tokens, end]
      : tokens;
  }

  /** Whether text prompts start with BOS: the model's tokenizer asks for one. */
  get addsBos(): boolean {
    return this.model.tokens.shouldPrependBosToken && this.model.tokens.bos !== null;
  }

  /**
   * The tokens of `text`: BOS first when `bos` and the model's tokenizer asks for one (default true); the text
   * of special tokens (`<|im_end|>`) read as those tokens when `special` (default true).
   */
  tokenize(text: string, options: { bos?: boolean; special?: boolean } = {}): Token[] {
    const tokens = this.model.tokenize(text, options.special ?? true);
    return (options.bos ?? true) && this.addsBos ? [this.model.tokens.bos!, ...tokens] : tokens;
  }

  /** The text of tokens, special tokens written out. */
  detokenize(tokens: readonly Token[]): string {
    return this.model.detokenize(tokens, true);
  }

  /**
   * Log-probability of every token of each prompt after those before it, with the `top` most likely
   * alternatives per position: what the legacy completions API returns for `echo` with `logprobs`.
   */
  async scorePrompts(
    prompts: Token[][],
    options: { top?: number; signal?: AbortSignal } = {},
  ): Promise<PromptScore[]> {
    this.#assertLive();
    for (const prompt of prompts) {
      if (prompt.length > this.info.contextSize)
        throw new ContextLengthExceededError(this.info.contextSize, prompt.length, undefined);
    }
    const sequence = await this.#pool.acquire(options.signal, prompts[0]);
    try {
      return await scorePrompts(sequence, prompts, options.top ?? 0);
    } finally {
      this.#pool.release(sequence);
    }
  }

  /**
   * Whether `completeText` with this sampling takes the most likely token at every step: temperature 0 and no
   * penalty that moves the logits (top-p, top-k and min-p always keep the most likely token).
   */
  picksGreedily(sampling: Partial<SamplingOptions>): boolean {
    const resolved = { ...this.#sampling, ...sampling };
    return (
      resolved.temperature === 0 &&
      resolved.repeatPenalty === 1 &&
      !resolved.frequencyPenalty &&
      !resolved.presencePenalty
    );
  }

  /**
   * `scorePrompts` of one prompt and, in the same pass, the most likely token after it: `completeText` by one
   * token where it `picksGreedily`, scored. The score covers the prompt and that token.
   */
  async scorePromptAndPickNext(
    prompt: Token[],
    options: { top?: number; signal?: AbortSignal } = {},
  ): Promise<{ score: PromptScore; next: Token }> {
    this.#assertLive();
    if (prompt.length + 1 > this.info.contextSize)
      throw new ContextLengthExceededError(this.info.contextSize, prompt.length, 1);
    const sequence = await this.#pool.acquire(options.signal, prompt);
    try {
      return await scorePromptAndPickNext(sequence, prompt, options.top ?? 0);
    } finally {
      this.#pool.release(sequence);
    }
  }

  /** Threads of its context's latest batch: its thread count, or its share while other contexts decode too. */
  get threadsInUse(): number {
    return this.#context.currentThreads;
  }

  /** Raw text completion after prompt tokens (no chat template), on one of the engine's sequences. */
  async completeText(
    promptTokens: Token[],
    request: Pick<ChatRequest, "maxTokens" | "sampling" | "seed" | "stop"> & {
      /** Receives the text as it is generated. */
      onText?: (text: string) => void;
    },
    signal?: AbortSignal,
  ): Promise<TextCompletionResult> {
    this.#assertLive();
    const contextSize = this.info.contextSize;
    const maxTokens = request.maxTokens ?? contextSize - promptTokens.length;
    if (promptTokens.length + maxTokens > contextSize)
      throw new ContextLengthExceededError(contextSize, promptTokens.length, maxTokens);
    const sequence = await this.#pool.acquire(signal, promptTokens);
    try {
      return await completeText(sequence, {
        promptTokens,
        maxTokens,
        sampling: { ...this.#sampling, ...request.sampling },
        seed: request.seed,
        stop: request.stop ?? [],
        signal,
        onText: request.onText,
      });
    } catch (error) {
      throw this.#samplerGuard.failureOf(error);
    } finally {
      this.#pool.release(sequence);
    }
  }

  /**
   * For a hot swap, once no new request is routed here: lets every running and queued request finish, then
   * disposes. A request that picked this engine a moment before the swap still gets its sequence: the
   * engine is disposed only after it has stayed idle for `graceMs`.
   */
  async retire(graceMs = 1000): Promise<void> {
    for (;;) {
      await this.#pool.whenIdle();
      await new Promise((resolve) => setTimeout(resolve, graceMs));
      const { inUse, queued } = this.#pool.stats;
      if (inUse === 0 && queued === 0) break;
    }
    await this[Symbol.asyncDispose]();
  }

  /** Refuses new work, waits for lent sequences to finish, then frees the context and the model. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.stopLending();
    await this.#context.dispose();
    await this.model.dispose();
  }

  /**
   * A sequence whose evaluation never settled is disposed (its cache and id go back to the context) and a fresh
   * one takes its place in the pool, so a stuck generation costs one request, not a slot for good.
   */
  #replaceStuck(stuck: LlamaContextSequence): void {
    console.error(
      `medgate: a generation on "${this.info.modelName}" did not stop when cancelled; its sequence is replaced.`,
    );
    stuck.dispose();
    if (this.#disposed) return;
    this.#pool.release(this.#context.getSequence());
  }

  #assertLive(): void {
    if (this.#disposed) throw new EngineUnavailableError("The model has been unloaded.");
  }

  #historyOf(messages: ChatMessage[], generationPrompt = true): ChatHistoryItem[] {
    return chatHistoryOf(messages, this.info.defaultSystemPrompt, generationPrompt);
  }

  #promptTokens(history: ChatHistoryItem[]): Token[] {
    const { contextText } = this.#chatWrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(this.model.tokenizer);
  }
}
