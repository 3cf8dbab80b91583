// The shapes a remote scorer sends and reads: vLLM's `POST /tokenize` and the legacy `POST /v1/completions` with
// `echo` and `logprobs` (medgate, vLLM and SGLang answer them), and OpenAI's error body. Only the fields used are
// read; everything else a server adds is ignored.
import { z } from "zod";
import type { ChatMessage } from "../../inference/chatTypes.ts";

export type TokenizeTextRequest = {
  model: string;
  prompt: string;
  /** BOS (and whatever else the tokenizer adds) where the model wants it. */
  add_special_tokens: boolean;
  /** Text of special tokens read as those tokens (llama-server's and medgate's; vLLM always does). */
  parse_special: boolean;
};

export type TokenizeChatRequest = {
  model: string;
  messages: readonly ChatMessage[];
  add_generation_prompt: boolean;
  continue_final_message: boolean;
};

export const tokenizeAnswer = z.object({
  tokens: z.array(z.number().int().min(0)),
  /** The context the server scores in (vLLM's and medgate's). */
  max_model_len: z.number().int().positive().nullish(),
});
export type TokenizeAnswer = z.infer<typeof tokenizeAnswer>;

/** `GET /tokenizer_info`, where a server's /tokenize does not say its context. */
export const tokenizerInfoAnswer = z.object({ model_max_length: z.number().int().positive().nullish() });
export type TokenizerInfoAnswer = z.infer<typeof tokenizerInfoAnswer>;

/** Token-id prompts scored by their echo: every prompt token's log-probability after those before it. */
export type EchoCompletionRequest = {
  model: string;
  prompt: number[][];
  echo: true;
  logprobs: number;
  /** 0 scores without generating (medgate, SGLang); vLLM wants at least 1, whose token is then ignored. */
  max_tokens: 0 | 1;
  temperature: 0;
};

export const echoCompletionAnswer = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().min(0),
      logprobs: z.object({ token_logprobs: z.array(z.number().nullable()) }).nullable(),
    }),
  ),
});
export type EchoCompletionAnswer = z.infer<typeof echoCompletionAnswer>;

/** OpenAI's error body, and vLLM's older flat one. */
export const errorAnswer = z.union([
  z.object({
    error: z.object({
      message: z.string(),
      param: z.string().nullish(),
      code: z.union([z.string(), z.number()]).nullish(),
    }),
  }),
  z
    .object({
      message: z.string(),
      param: z.string().nullish(),
      code: z.union([z.string(), z.number()]).nullish(),
    })
    .transform((error) => ({ error })),
]);
