// OpenAI chat-completions wire shapes as zod schemas, fields in OpenAI's order; medgate extensions marked.
// Unknown request fields are stripped, not refused, so newer clients keep working.
import { z } from "zod";

/** The one kind of content part a text model reads; images, audio and files are refused by name. */
const textPart = z.object({
  type: z.literal("text", {
    error: (issue) =>
      `Content parts of type ${JSON.stringify(issue.input)} are not supported; send text parts.`,
  }),
  text: z.string(),
});

export const messageContent = z.union([z.string(), z.array(textPart)]);

/**
 * A message of the conversation. The roles a model without tool calling reads: `developer` (read as `system`),
 * `system` and `user` need content; an `assistant` message may have none (an empty turn). `tool` and
 * `function` messages are refused by name, as is any other role.
 */
export const chatMessage = z.discriminatedUnion(
  "role",
  [
    z.object({
      content: messageContent,
      role: z.enum(["developer", "system", "user"]),
      name: z.string().optional(),
    }),
    z.object({
      content: messageContent.nullable().optional(),
      role: z.literal("assistant"),
      name: z.string().optional(),
    }),
  ],
  {
    error: (issue) => {
      if (issue.code !== "invalid_union") return undefined;
      const role = (issue.input as { role?: unknown } | undefined)?.role;
      return role === "tool" || role === "function"
        ? `${role} messages are not supported by this server (no tool calling); roles are developer, system, user and assistant.`
        : "must be one of developer, system, user and assistant";
    },
  },
);

const jsonScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const count = z.number().int().min(0);

/**
 * The JSON Schema subset llama.cpp's grammars can enforce (inference/grammarSchema.ts is the engine's own
 * guard): a keyword that would constrain the answer but cannot be enforced (`pattern`, `minimum`, ...) is
 * refused, so that every constrained answer really validates against the schema sent.
 */
export const responseJsonSchema: z.ZodType<Record<string, unknown>> = z
  .strictObject(
    {
      type: z
        .union([
          z.enum(["string", "number", "integer", "boolean", "null", "object", "array"]),
          z.array(z.enum(["string", "number", "integer", "boolean", "null"])),
        ])
        .optional(),
      enum: z.array(jsonScalar).optional(),
      const: jsonScalar.optional(),
      get anyOf() {
        return z.array(responseJsonSchema).min(1).optional();
      },
      get oneOf() {
        return z.array(responseJsonSchema).min(1).optional();
      },
      get properties() {
        return z.record(z.string(), responseJsonSchema).optional();
      },
      get $defs() {
        return z.record(z.string(), responseJsonSchema).optional();
      },
      get definitions() {
        return z.record(z.string(), responseJsonSchema).optional();
      },
      get additionalProperties() {
        return z.union([z.boolean(), responseJsonSchema]).optional();
      },
      get items() {
        return z.union([z.boolean(), responseJsonSchema, z.array(responseJsonSchema)]).optional();
      },
      get prefixItems() {
        return z.array(responseJsonSchema).optional();
      },
      $ref: z
        .string()
        .regex(/^#\/(\$defs|definitions)\//u, "only local references to #/$defs/... are supported")
        .optional(),
      required: z.array(z.string()).optional(),
      format: z.enum(["date-time", "time", "date"]).optional(),
      minLength: count.optional(),
      maxLength: count.optional(),
      minItems: count.optional(),
      maxItems: count.optional(),
      minProperties: count.optional(),
      maxProperties: count.optional(),
      // Annotations: they describe, they do not constrain.
      title: z.unknown().optional(),
      description: z.unknown().optional(),
      $schema: z.unknown().optional(),
      $id: z.unknown().optional(),
      $comment: z.unknown().optional(),
      default: z.unknown().optional(),
      examples: z.unknown().optional(),
      deprecated: z.unknown().optional(),
      readOnly: z.unknown().optional(),
      writeOnly: z.unknown().optional(),
      strict: z.unknown().optional(),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `the keyword${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")} cannot be enforced during generation`
          : undefined,
    },
  )
  .meta({ id: "ResponseJsonSchema" });

const jsonSchemaFormat = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/u, "must be 1-64 letters, digits, underscores or dashes"),
  description: z.string().optional(),
  /** Required here: the answer is constrained by it (OpenAI's API lets it out). */
  schema: responseJsonSchema,
  strict: z.boolean().nullable().optional(),
});

export const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({ type: z.literal("json_schema"), json_schema: jsonSchemaFormat }),
]);

const stopString = z.string().min(1, "must not be empty");
/** Up to 4 strings that end the output; they are not part of it. */
const stopSchema = z
  .union([stopString, z.array(stopString).max(4)])
  .nullable()
  .optional();

export const chatCompletionRequest = z.object({
  messages: z.array(chatMessage).min(1, "must contain at least one message"),
  model: z.string().min(1),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  /**
   * The log-probability of each answer token (and, with `top_logprobs`, of the likeliest tokens there), from the
   * in-process engine (a model answered by upstreams or a llama-server refuses it). A streamed choice's chunks
   * then come once the choice has ended, each with its tokens' log-probabilities.
   */
  logprobs: z.boolean().nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  response_format: responseFormat.optional(),
  seed: z.number().int().nullable().optional(),
  stop: stopSchema,
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  /** No tool calling here: only an empty list (or none). */
  tools: z.array(z.unknown()).max(0, "Tool calling is not supported by this server.").nullable().optional(),
  /** With `logprobs`: how many of the likeliest tokens each position lists. Ignored without `logprobs`. */
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  user: z.string().optional(),
  /** medgate extension (as in llama-server): sample from the K most likely tokens; 0 disables. */
  top_k: z.number().int().min(0).nullable().optional(),
  /** medgate extension (as in llama-server): drop tokens below this fraction of the top probability. */
  min_p: z.number().min(0).max(1).nullable().optional(),
  /**
   * medgate extension (as in llama-server): multiplicative penalty on recent tokens; 1 disables. Below 0.01 it
   * divides logits towards infinity, and llama.cpp then samples tokens a grammar forbids, so it is refused.
   */
  repeat_penalty: z.number().min(0.01, "must be at least 0.01 (1 disables it)").max(10).nullable().optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type ChatMessageInput = z.infer<typeof chatMessage>;

export const usage = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});
export type Usage = z.infer<typeof usage>;

export const finishReason = z.enum(["stop", "length", "content_filter", "tool_calls"]);

/** One token's log-probability as OpenAI's chat API shapes it: its text, and its UTF-8 bytes. */
const topLogprob = z.object({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number().int()).nullable(),
});

export const tokenLogprob = z.object({
  ...topLogprob.shape,
  /** The likeliest tokens at this position, best first (`top_logprobs` of them). */
  top_logprobs: z.array(topLogprob),
});
export type TokenLogprob = z.infer<typeof tokenLogprob>;

/** A choice's log-probabilities (with `logprobs: true`): one entry per answer token. */
export const chatLogprobs = z.object({
  content: z.array(tokenLogprob).nullable(),
  refusal: z.array(tokenLogprob).nullable(),
});
export type ChatLogprobs = z.infer<typeof chatLogprobs>;

/** A completion's choices; a logged one may also have ended `cancelled`, and keeps no log-probabilities. */
const completionChoices = <Reason extends z.ZodType, Logprobs extends z.ZodType>(
  reason: Reason,
  logprobs: Logprobs,
) =>
  z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal("assistant"), content: z.string().nullable(), refusal: z.null() }),
      logprobs,
      finish_reason: reason,
    }),
  );

/** The fields a live and a logged chat completion share. */
const completionHead = {
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.number().int(),
  model: z.string(),
};

export const chatCompletion = z.object({
  ...completionHead,
  choices: completionChoices(finishReason, chatLogprobs.nullable()),
  usage,
  system_fingerprint: z.string(),
});
export type ChatCompletion = z.infer<typeof chatCompletion>;

export const chatCompletionChunk = z.object({
  id: z.string(),
  object: z.literal("chat.completion.chunk"),
  created: z.number().int(),
  model: z.string(),
  system_fingerprint: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      delta: z.object({ role: z.literal("assistant").optional(), content: z.string().optional() }),
      /** With `logprobs: true`, those of the tokens of this chunk's `content`. */
      logprobs: chatLogprobs.nullable(),
      finish_reason: finishReason.nullable(),
    }),
  ),
  usage: usage.nullable().optional(),
});
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunk>;

// The legacy completions API, medgate's scoring and evaluation API (as vLLM's): `echo` with `logprobs` returns
// every prompt token's log-probability, the protocol of lm-evaluation-harness's `local-completions` model.
/** Token ids, each below the model's vocabulary size (a larger one is a 400 `invalid_token`). */
const tokenIds = z.array(z.number().int().min(0)).min(1, "must hold at least one token");

const textPrompt = z.string().min(1, "must not be empty");

export const completionRequest = z.object({
  model: z.string().min(1),
  /** A text, texts, token ids (each below the model's vocabulary size) or lists of token ids. */
  prompt: z.union([
    textPrompt,
    z.array(textPrompt).min(1, "must hold at least one prompt"),
    tokenIds,
    z.array(tokenIds).min(1, "must hold at least one prompt"),
  ]),
  /** Only 1: choices are not generated server-side and ranked. */
  best_of: z.number().int().min(1).max(1, "best_of above 1 is not supported.").nullable().optional(),
  echo: z.boolean().nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  /** Only an empty object: logits are not biased. */
  logit_bias: z
    .strictObject({}, { error: () => "logit_bias is not supported." })
    .nullable()
    .optional(),
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
  /** OpenAI's default is 16; 0 generates nothing (with `echo`, the prompt is scored). */
  max_tokens: z.number().int().min(0).nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: stopSchema,
  /** Server-sent events of `text_completion` chunks, ending with `data: [DONE]`. */
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  /** Only empty: no insertion. */
  suffix: z.string().max(0, "suffix (insertion) is not supported.").nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  user: z.string().optional(),
  /** medgate extension (as in llama-server and vLLM). */
  top_k: z.number().int().min(0).nullable().optional(),
  /** medgate extension (as in llama-server and vLLM). */
  min_p: z.number().min(0).max(1).nullable().optional(),
  /** medgate extension (as in llama-server). */
  repeat_penalty: z.number().min(0.01, "must be at least 0.01 (1 disables it)").max(10).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

export const completionLogprobs = z.object({
  tokens: z.array(z.string()),
  /** null for the first prompt token, which nothing precedes. */
  token_logprobs: z.array(z.number().nullable()),
  /** The most likely tokens at each position, the scored one included (so up to `logprobs` + 1 entries). */
  top_logprobs: z.array(z.record(z.string(), z.number()).nullable()),
  text_offset: z.array(z.number().int()),
});
export type CompletionLogprobs = z.infer<typeof completionLogprobs>;

const textCompletionHead = {
  id: z.string(),
  object: z.literal("text_completion"),
  created: z.number().int(),
  model: z.string(),
};

export const textCompletion = z.object({
  ...textCompletionHead,
  choices: z.array(
    z.object({
      text: z.string(),
      index: z.number().int(),
      logprobs: completionLogprobs.nullable(),
      finish_reason: z.enum(["stop", "length"]),
    }),
  ),
  usage,
  system_fingerprint: z.string(),
});
export type TextCompletion = z.infer<typeof textCompletion>;

/** One event of a streamed text completion; the last chunk of a choice has its `finish_reason`. */
export const textCompletionChunk = z.object({
  ...textCompletionHead,
  choices: z.array(
    z.object({
      text: z.string(),
      index: z.number().int(),
      logprobs: completionLogprobs.nullable(),
      finish_reason: z.enum(["stop", "length"]).nullable(),
    }),
  ),
  /** With `stream_options.include_usage`: null, except in the last chunk (which has no choices). */
  usage: usage.nullable().optional(),
  system_fingerprint: z.string(),
});
export type TextCompletionChunk = z.infer<typeof textCompletionChunk>;

// medgate extension (as vLLM's): the served model's tokenizer, which scorers and lm-evaluation-harness's
// remote tokenizer use.
export const tokenizeRequest = z.union([
  z.object({
    model: z.string().min(1).optional(),
    prompt: z.string(),
    /** BOS where the model wants one. Default: true */
    add_special_tokens: z.boolean().optional(),
    /** Text of special tokens (`<|im_end|>`) read as those tokens, as llama-server's. Default: true */
    parse_special: z.boolean().optional(),
  }),
  z.object({
    model: z.string().min(1).optional(),
    messages: z.array(chatMessage).min(1, "must contain at least one message"),
    /** An open assistant turn after a last message that is not the assistant's. Default: true */
    add_generation_prompt: z.boolean().optional(),
    /** A last assistant message is left open (no end of turn), to be continued. Default: false */
    continue_final_message: z.boolean().optional(),
  }),
]);
export type TokenizeRequest = z.infer<typeof tokenizeRequest>;

export const tokenizeResponse = z.object({
  count: z.number().int(),
  max_model_len: z.number().int(),
  tokens: z.array(z.number().int()),
  token_strs: z.array(z.string()).nullable(),
});

export const detokenizeRequest = z.object({
  model: z.string().min(1).optional(),
  tokens: z.array(z.number().int().min(0)),
});
export const detokenizeResponse = z.object({ prompt: z.string() });

export const tokenizerInfo = z.object({
  tokenizer_class: z.string(),
  bos_token: z.string().nullable(),
  eos_token: z.string().nullable(),
  pad_token: z.string().nullable(),
  model_max_length: z.number().int(),
});

export const model = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.number().int(),
  owned_by: z.string(),
  /** medgate extension: per-sequence context length in tokens (absent for a model served by upstreams). */
  context_length: z.number().int().optional(),
});
export type Model = z.infer<typeof model>;

export const modelList = z.object({ object: z.literal("list"), data: z.array(model) });
export type ModelList = z.infer<typeof modelList>;

/** OpenAI's error body, the only shape any error of the API has. */
export const errorResponse = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});

/** Formats a zod issue path the way OpenAI names parameters: `messages[0].role`. */
export function paramOf(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path
    .map((segment, index) =>
      typeof segment === "number" ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`,
    )
    .join("");
}

// medgate extension: clinician feedback.
export const completionIdSchema = z
  .string()
  .max(128)
  .regex(/^chatcmpl-[\w-]+$/u, "must be a chat completion id (chatcmpl-…)");

/** The kinds of feedback other than a rating, shared by the API's body and the review page's form. */
export const textFeedbackKinds = [
  z.object({
    type: z.literal("correction"),
    completion_id: completionIdSchema,
    correction: z.string().min(1).max(100_000),
  }),
  z.object({
    type: z.literal("comment"),
    completion_id: completionIdSchema,
    comment: z.string().min(1).max(20_000),
  }),
  z.object({
    type: z.literal("preference"),
    completion_id: completionIdSchema,
    /** The other answer to the same prompt; "a" is `completion_id`, "b" this one. */
    other_completion_id: completionIdSchema,
    preference: z.enum(["a", "b", "tie"]),
  }),
] as const;

/** medgate extension: the feedback a clinician can give on one answer. */
export const feedbackRequest = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("rating"),
    completion_id: completionIdSchema,
    /** "up" | "down", or a score from 1 to 5. */
    rating: z.union([z.enum(["up", "down"]), z.number().int().min(1).max(5)]),
  }),
  ...textFeedbackKinds,
]);

// medgate extension: the response log as OpenAI's stored chat completions (admin keys).
export const completionListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: completionIdSchema.optional(),
  order: z.enum(["asc", "desc"]).default("asc"),
  model: z.string().min(1).optional(),
});

export const storedCompletion = z.object({
  ...completionHead,
  choices: completionChoices(z.string(), z.null()),
  usage,
  metadata: z.record(z.string(), z.string()),
  request_id: z.string(),
  /** medgate extension: what the log holds beyond OpenAI's object. */
  medgate: z.object({
    status: z.enum(["stop", "length", "cancelled", "error"]),
    stored: z.boolean(),
    messages: z.array(z.object({ role: z.string(), content: z.string() })).nullable(),
    request: z.record(z.string(), z.unknown()),
    error: z.string().nullable(),
    latency_ms: z.number(),
    time_to_first_token_ms: z.number().nullable(),
    model_version_id: z.string().nullable(),
    /** The upstream(s) that answered, by their name in the upstreams file; null for the gateway's own engine. */
    upstream: z.string().nullable(),
    api_key_id: z.string().nullable(),
    user: z.string().nullable(),
  }),
});
export type StoredCompletion = z.infer<typeof storedCompletion>;

export const storedCompletionList = z.object({
  object: z.literal("list"),
  data: z.array(storedCompletion),
  first_id: z.string().nullable(),
  last_id: z.string().nullable(),
  has_more: z.boolean(),
});

// medgate extension: clinician feedback as stored.
export const feedbackQuery = z.object({ completion_id: completionIdSchema });

export const feedbackObject = z.object({
  id: z.number().int(),
  object: z.literal("feedback"),
  completion_id: z.string(),
  type: z.enum(["rating", "correction", "comment", "preference"]),
  rating: z.union([z.enum(["up", "down"]), z.number().int()]).nullable(),
  correction: z.string().nullable(),
  comment: z.string().nullable(),
  other_completion_id: z.string().nullable(),
  preference: z.string().nullable(),
  api_key_id: z.string(),
  created: z.number().int(),
});
export type FeedbackObject = z.infer<typeof feedbackObject>;

export const feedbackList = z.object({ object: z.literal("list"), data: z.array(feedbackObject) });

// medgate extension: probes.
export const health = z.object({ status: z.literal("ok") });

export const readiness = z.object({
  status: z.literal("ready"),
  models: z.array(
    z.object({
      model: z.string(),
      /** The served engine's sequences: how many, lent out, waiting, and the wait queue's bound. */
      pool: z.object({
        size: z.number().int(),
        inUse: z.number().int(),
        queued: z.number().int(),
        maxQueue: z.number().int().optional(),
        /** For a model served by upstreams: each upstream's requests in flight, limit and health. */
        upstreams: z
          .array(
            z.object({
              name: z.string(),
              outstanding: z.number().int(),
              maxConcurrency: z.number().int(),
              healthy: z.boolean(),
            }),
          )
          .optional(),
      }),
    }),
  ),
});
