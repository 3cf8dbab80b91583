// A Scorer on an OpenAI-compatible server: prompts and answers tokenized by the server's own tokenizer and chat
// template (`POST /tokenize`), their log-likelihoods read from the echo of token-id prompts (`POST /v1/completions`),
// tokenized, truncated and summed the way InferenceEngine does, so that a medgate serving the same GGUF gives the
// same numbers as scoring it here.
import type { ModelVersionRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import type { ContinuationLikelihood, Scorer, ScoringOptions, ScoringPrompt } from "./Scorer.ts";
import { ScorerRequestError, type ScoringEndpoint } from "./ScoringEndpoint.ts";

/** The model id a scoring server knows a version by: its `upstreamModel`, else `NAME@vN` (as a medgate gateway). */
export function remoteModelOf(version: Pick<ModelVersionRow, "name" | "version" | "upstreamModel">): string {
  return version.upstreamModel ?? `${version.name}@v${version.version}`;
}

type ScoreInput = { promptTokens: number[]; continuations: number[][] };

export class RemoteScorer implements Scorer {
  readonly label: string;
  readonly remote: { url: string; model: string };
  readonly #endpoint: ScoringEndpoint;
  readonly #model: string;
  /** The server's context for the model, as its tokenizer reports it; unknown until it does. */
  #maxModelLen: number | undefined;
  /** Whether `GET /tokenizer_info` was asked already, for a server whose /tokenize does not say the context. */
  #askedInfo = false;

  /** The scorer of `model` on `endpoint`, once one tokenization has shown that the server, key and model work. */
  static async open(endpoint: ScoringEndpoint, model: string, signal?: AbortSignal): Promise<RemoteScorer> {
    const scorer = new RemoteScorer(endpoint, model);
    await scorer.#tokenizeText(".", { special: false }, signal);
    return scorer;
  }

  constructor(endpoint: ScoringEndpoint, model: string) {
    this.#endpoint = endpoint;
    this.#model = model;
    this.label = `${model} at ${endpoint.url}`;
    this.remote = { url: endpoint.url, model };
  }

  get parallel(): number {
    return this.#endpoint.parallel;
  }

  async scoreContinuations(
    prompt: ScoringPrompt,
    continuations: readonly string[],
    options: ScoringOptions & { truncateLeft?: boolean } = {},
  ): Promise<ContinuationLikelihood[]> {
    const { signal } = options;
    if (typeof prompt === "string")
      return this.#score(await this.#textInput(prompt, continuations, signal), options);
    // As InferenceEngine's token prompts: continuations tokenized alone, special-token text as text.
    const [promptTokens, ...tokenized] = await Promise.all([
      this.#tokenizeChat(prompt, "prompt", signal),
      ...continuations.map((text) => this.#tokenizeText(text, { special: false }, signal)),
    ]);
    return this.#score({ promptTokens: promptTokens!, continuations: tokenized }, options);
  }

  async scoreAnswers(
    messages: readonly ChatMessage[],
    answers: readonly string[],
    options: ScoringOptions = {},
  ): Promise<ContinuationLikelihood[]> {
    const { signal } = options;
    // As InferenceEngine: the answer takes the place of an open assistant turn (a last assistant message too).
    const before = messages.at(-1)?.role === "assistant" ? messages.slice(0, -1) : messages;
    const [promptTokens, forms] = await Promise.all([
      this.#tokenizeChat(messages, "prompt", signal),
      Promise.all(
        answers.map(async (answer) => {
          const whole = [...before, { role: "assistant" as const, content: answer }];
          const [open, closed] = await Promise.all([
            this.#tokenizeChat(whole, "open", signal),
            this.#tokenizeChat(whole, "closed", signal),
          ]);
          return { answer, open, closed };
        }),
      ),
    ]);
    const continuations = await Promise.all(
      forms.map(async ({ answer, open, closed }) => {
        const rendered = startsWith(open, promptTokens)
          ? open.slice(promptTokens.length)
          : await this.#tokenizeText(answer, { special: false }, signal);
        // The end-of-turn token: the first the closed form has beyond the open one (a template may add more).
        const end = closed[commonPrefixLength(open, closed)];
        return end === undefined ? rendered : [...rendered, end];
      }),
    );
    return this.#score({ promptTokens, continuations }, { signal });
  }

  /** lm-evaluation-harness's tokenization: trailing spaces move to the continuations, each the tail of the whole. */
  async #textInput(
    prompt: string,
    continuations: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<ScoreInput> {
    const trimmed = prompt.replace(/\s+$/u, "");
    const movedSpaces = prompt.slice(trimmed.length);
    const [promptTokens, ...wholes] = await Promise.all([
      this.#tokenizeText(trimmed, { bos: true }, signal),
      ...continuations.map((text) => this.#tokenizeText(trimmed + movedSpaces + text, { bos: true }, signal)),
    ]);
    return {
      promptTokens: promptTokens!,
      continuations: wholes.map((whole) => whole.slice(promptTokens!.length)),
    };
  }

  async #score(
    input: ScoreInput,
    options: ScoringOptions & { truncateLeft?: boolean },
  ): Promise<ContinuationLikelihood[]> {
    if (input.promptTokens.length === 0)
      throw new Error("Scoring needs at least one prompt token (e.g. BOS).");
    const longest = Math.max(0, ...input.continuations.map((tokens) => tokens.length));
    if (this.#maxModelLen === undefined && !this.#askedInfo) {
      this.#askedInfo = true;
      // Without it, prompts are sent as they are and the server refuses those too long.
      const info = await this.#endpoint.tokenizerInfo(this.#model, options.signal).catch(() => undefined);
      this.#maxModelLen ??= info?.model_max_length ?? undefined;
    }
    for (;;) {
      // The echo may have to generate a token, which then needs room in the context too.
      const generated = this.#endpoint.generatedTokens;
      const contextSize = this.#maxModelLen === undefined ? undefined : this.#maxModelLen - generated;
      let { promptTokens } = input;
      if (contextSize !== undefined) {
        if (options.truncateLeft && longest < contextSize)
          promptTokens = promptTokens.slice(-(contextSize - longest));
        if (promptTokens.length + longest > contextSize)
          throw new ContextLengthExceededError(contextSize, promptTokens.length, longest);
      }
      const scored = input.continuations.filter((tokens) => tokens.length > 0);
      if (scored.length === 0) return input.continuations.map(() => noTokens());
      let answer: Awaited<ReturnType<ScoringEndpoint["echo"]>>;
      try {
        answer = await this.#endpoint.echo(
          {
            model: this.#model,
            prompt: scored.map((tokens) => [...promptTokens, ...tokens]),
            echo: true,
            logprobs: 1,
            max_tokens: generated,
            temperature: 0,
          },
          options.signal,
        );
      } catch (error) {
        if (this.#endpoint.learnFrom(error, generated)) continue;
        if (isContextLengthRefusal(error))
          throw new ContextLengthExceededError(this.#maxModelLen ?? 0, promptTokens.length, longest);
        throw error;
      }
      const choices = [...answer.choices].sort((a, b) => a.index - b.index);
      if (choices.length !== scored.length) {
        throw new Error(
          `The scorer at ${this.#endpoint.url} answered ${choices.length} choices for ${scored.length} prompts.`,
        );
      }
      let next = 0;
      return input.continuations.map((tokens) => {
        if (tokens.length === 0) return noTokens();
        const logprobs = choices[next++]!.logprobs?.token_logprobs ?? [];
        const tokenLogprobs = logprobs.slice(promptTokens.length, promptTokens.length + tokens.length);
        if (tokenLogprobs.length !== tokens.length || tokenLogprobs.some((value) => value === null)) {
          throw new Error(
            `The scorer at ${this.#endpoint.url} returned no log-probabilities for the prompt tokens of "${this.#model}" (is echo with logprobs supported?).`,
          );
        }
        const values = tokenLogprobs as number[];
        return { tokens, tokenLogprobs: values, logprob: values.reduce((sum, value) => sum + value, 0) };
      });
    }
  }

  /** `prompt`: with an open assistant turn (a last assistant message left open); `open`/`closed`: the last assistant message without/with its end of turn. */
  async #tokenizeChat(
    messages: readonly ChatMessage[],
    form: "prompt" | "open" | "closed",
    signal: AbortSignal | undefined,
  ): Promise<number[]> {
    const continueFinal = form === "open" || (form === "prompt" && messages.at(-1)?.role === "assistant");
    const answer = await this.#endpoint.tokenize(
      {
        model: this.#model,
        messages,
        add_generation_prompt: form === "prompt" && !continueFinal,
        continue_final_message: continueFinal,
      },
      signal,
    );
    return this.#noted(answer);
  }

  /** `bos`: BOS where the tokenizer asks for one, special-token text read as those tokens; else plain text alone. */
  async #tokenizeText(
    text: string,
    kind: { bos: true } | { special: false },
    signal: AbortSignal | undefined,
  ): Promise<number[]> {
    const whole = "bos" in kind;
    const answer = await this.#endpoint.tokenize(
      { model: this.#model, prompt: text, add_special_tokens: whole, parse_special: whole },
      signal,
    );
    return this.#noted(answer);
  }

  #noted(answer: { tokens: number[]; max_model_len?: number | null }): number[] {
    if (answer.max_model_len) this.#maxModelLen = answer.max_model_len;
    return answer.tokens;
  }
}

function noTokens(): ContinuationLikelihood {
  return { tokens: [], tokenLogprobs: [], logprob: 0 };
}

function isContextLengthRefusal(error: unknown): boolean {
  if (!(error instanceof ScorerRequestError) || error.answer?.status !== 400) return false;
  return (
    error.answer.code === "context_length_exceeded" || /maximum context length/iu.test(error.answer.message)
  );
}

function startsWith(tokens: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length <= tokens.length && prefix.every((token, i) => tokens[i] === token);
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
