// The OpenAPI 3.1 document of the gateway (GET /openapi.json), generated from the protocol's zod schemas, so
// the document and the validation it describes cannot drift apart. Every route of the app is listed here; a
// test compares this list with the app's own routes.
import { z } from "zod";
import {
  createDocument,
  createSchema,
  type ZodOpenApiOperationObject,
  type ZodOpenApiResponsesObject,
} from "zod-openapi";
import { roundAnswersQuery } from "./pages/roundAnswersPage.tsx";
import {
  chatCompletion,
  chatCompletionChunk,
  chatCompletionRequest,
  completionIdSchema,
  completionListQuery,
  completionRequest,
  detokenizeRequest,
  detokenizeResponse,
  errorResponse,
  feedbackList,
  feedbackObject,
  feedbackQuery,
  feedbackRequest,
  health,
  model,
  modelList,
  readiness,
  storedCompletion,
  storedCompletionList,
  textCompletion,
  textCompletionChunk,
  textFeedbackKinds,
  tokenizeRequest,
  tokenizeResponse,
  tokenizerInfo,
} from "./protocol.ts";

/** Cookies of the server-rendered pages, set by their sign-in forms. */
export const pageCookies = { review: "medgate_review", admin: "medgate_admin" } as const;

const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });
const html = { "text/html": { schema: z.string() } };

/** A JSON request body; every operation that takes one needs it. */
const jsonBody = <T extends z.ZodType>(schema: T) => ({ required: true, content: json(schema) });
const formBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/x-www-form-urlencoded": { schema } },
});

/**
 * Server-sent events: each event's `data` is one JSON payload (a chunk, or after a failure mid-stream one error
 * body), and the last is `[DONE]`. OpenAPI 3.1 has no schema for the items of a stream (3.2's `itemSchema`), so
 * `schema` describes one event, as tools that read event streams take it.
 */
function serverSentEvents(payload: z.ZodType) {
  const { schema } = createSchema(z.union([payload, errorResponse]), { io: "output" });
  return {
    "text/event-stream": {
      schema: {
        type: "object" as const,
        required: ["data"],
        properties: {
          data: {
            type: "string" as const,
            if: { const: "[DONE]" },
            else: { contentMediaType: "application/json", contentSchema: schema },
          },
        },
      },
    },
  };
}

/** The errors an operation can answer, each in OpenAI's shape. */
function errors(...statuses: (400 | 401 | 403 | 404 | 413 | 415 | 429 | 503)[]): ZodOpenApiResponsesObject {
  const meaning = {
    400: "Bad request: malformed JSON, an invalid field (named in `param`), or what depends on the model: a prompt (with `max_tokens`) longer than its context (`context_length_exceeded`), a token id beyond its vocabulary (`invalid_token`).",
    401: "Missing, unknown or revoked API key.",
    403: "The key's role may not use this route.",
    404: "Unknown model or completion (or, for /metrics, metrics are off).",
    413: "The body is larger than the limit.",
    415: "A form posted with a content type other than application/x-www-form-urlencoded.",
    429: "Too many requests: the key is over its requests or generated tokens per minute (code `rate_limit_exceeded`, type `requests` or `tokens`, with the `x-ratelimit-*` headers), or every sequence is busy and the wait queue is full (code `overloaded`); retry after `Retry-After` seconds.",
    503: "Not ready yet (the model is loading), a version that could not be loaded, API keys cannot be checked, or a read of stored text could not be recorded in the audit trail first (`audit_unavailable`).",
  } as const;
  return Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: meaning[status],
        content: json(errorResponse),
        ...(status === 429 ? { headers: tooManyRequestsHeaders } : {}),
      },
    ]),
  );
}

/** OpenAI's rate-limit headers, sent for each limit the key has (none for a key without limits). */
const rateLimitHeaders = (() => {
  const count = (what: string) => z.string().regex(/^\d+$/u).optional().meta({ description: what });
  const duration = (what: string) =>
    z
      .string()
      .regex(/^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/u)
      .optional()
      .meta({ description: `${what}, as OpenAI writes it: \`12ms\`, \`7.66s\`, \`1m0s\`.` });
  return z.object({
    "x-ratelimit-limit-requests": count("The key's requests per minute."),
    "x-ratelimit-remaining-requests": count("Requests left in the last minute's window."),
    "x-ratelimit-reset-requests": duration("Until no request of the last minute counts any more"),
    "x-ratelimit-limit-tokens": count("The key's generated tokens per minute."),
    "x-ratelimit-remaining-tokens": count("Generated tokens left in the last minute's window."),
    "x-ratelimit-reset-tokens": duration("Until no generated token of the last minute counts any more"),
  });
})();
const tooManyRequestsHeaders = rateLimitHeaders.extend({
  "Retry-After": z.string().regex(/^\d+$/u).meta({ description: "Seconds to wait before retrying." }),
});

/** An operation of a route called with an API key: limited per key, its answers carrying the limits' headers. */
const api = (operation: ZodOpenApiOperationObject): ZodOpenApiOperationObject => ({
  security: [{ bearerAuth: [] }],
  ...operation,
  responses: {
    ...Object.fromEntries(
      Object.entries(operation.responses ?? {}).map(([status, response]) => [
        status,
        status.startsWith("2") ? { ...response, headers: rateLimitHeaders } : response,
      ]),
    ),
    ...errors(401, 403, 429),
  },
});

/**
 * A page under `/review` or `/admin`: HTML for a signed-in key, else a redirect to its sign-in form. The cookie
 * is optional (the empty requirement): a browser without it is sent to sign in, not refused.
 */
const signedInOrRedirected = (cookie: "review" | "admin") => [{ [`${cookie}Cookie`]: [] }, {}];

function page(cookie: "review" | "admin", summary: string): ZodOpenApiOperationObject {
  return {
    summary,
    security: signedInOrRedirected(cookie),
    responses: {
      "200": { description: "The page.", content: html },
      "302": { description: "Not signed in: to the sign-in form." },
      ...errors(503),
    },
  };
}

const loginForm = z.object({ key: z.string().meta({ description: "An API key of an admitted role." }) });

function signIn(base: "/review" | "/admin", cookie: string): ZodOpenApiOperationObject {
  return {
    summary: "Sign in with an API key; sets an httpOnly, SameSite=Strict cookie holding it.",
    requestBody: formBody(loginForm),
    responses: {
      "303": { description: `Signed in (cookie ${cookie}): to ${base}.` },
      "401": { description: "The key is not valid: the form again.", content: html },
      "403": {
        description:
          "The key's role is not admitted, or key sign-in is switched off (the identity provider's sign-in only): the form again.",
        content: html,
      },
      ...errors(413, 415),
    },
  };
}

const signOut: ZodOpenApiOperationObject = {
  summary: "Sign out: ends a person's server-side session and clears the cookies.",
  responses: {
    "302": { description: "Not signed in: to the sign-in form." },
    "303": { description: "Signed out: to the sign-in form." },
  },
};

/** The review page's feedback form: the fields of the API's feedback body, as form strings. */
const feedbackForm = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("rating"),
    completion_id: completionIdSchema,
    rating: z.enum(["up", "down", "1", "2", "3", "4", "5"]),
  }),
  ...textFeedbackKinds,
]);

/** The /auth routes of a gateway without an identity provider. */
const ssoNotConfigured = {
  description: "No identity provider is configured: the pages sign in with API keys.",
  content: json(errorResponse),
};

/** The /auth routes when the provider's configuration cannot be read. */
const providerUnreachable = {
  description: "The identity provider cannot be reached (code `identity_provider_unavailable`).",
  content: json(errorResponse),
};

export function openApiDocument(version: string) {
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "medgate",
      version,
      description:
        "OpenAI-compatible chat completions for medical models, with the response log and clinician feedback. Errors always have OpenAI's shape.",
    },
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "A medgate API key (mg-…)." },
        reviewCookie: { type: "apiKey", in: "cookie", name: pageCookies.review },
        adminCookie: { type: "apiKey", in: "cookie", name: pageCookies.admin },
      },
    },
    paths: {
      "/health": {
        get: { summary: "Liveness.", responses: { "200": { description: "Alive.", content: json(health) } } },
      },
      "/ready": {
        get: {
          summary: "Readiness, with each served model's sequence pool.",
          responses: { "200": { description: "Ready.", content: json(readiness) }, ...errors(503) },
        },
      },
      "/openapi.json": {
        get: {
          summary: "This document.",
          responses: {
            "200": { description: "OpenAPI 3.1.", content: json(z.record(z.string(), z.unknown())) },
          },
        },
      },
      "/metrics": {
        get: {
          summary: "Every metric in Prometheus text format (admin keys, as a bearer token).",
          security: [{ bearerAuth: [] }],
          responses: {
            "200": {
              description: "Prometheus text exposition format 0.0.4.",
              content: { "text/plain": { schema: z.string() } },
            },
            ...errors(401, 403, 404),
          },
        },
      },
      "/v1/models": {
        get: api({
          summary: "The served models.",
          responses: { "200": { description: "OK", content: json(modelList) } },
        }),
      },
      "/v1/models/{model}": {
        get: api({
          summary: "One served model.",
          requestParams: { path: z.object({ model: z.string() }) },
          responses: { "200": { description: "OK", content: json(model) }, ...errors(404) },
        }),
      },
      "/v1/chat/completions": {
        post: api({
          summary:
            "Create a chat completion, whole or streamed (server-sent events). Every answer is logged.",
          requestBody: jsonBody(chatCompletionRequest),
          responses: {
            "200": {
              description:
                "The completion; with `stream: true`, `data:` events each holding a chunk (or, after a failure mid-stream, one error body), ending with `data: [DONE]`.",
              content: { ...json(chatCompletion), ...serverSentEvents(chatCompletionChunk) },
            },
            ...errors(400, 404, 413, 429, 503),
          },
        }),
        get: api({
          summary: "Page through the response log (admin keys).",
          requestParams: { query: completionListQuery },
          responses: {
            "200": { description: "OK", content: json(storedCompletionList) },
            ...errors(400, 503),
          },
        }),
      },
      "/v1/chat/completions/{completion_id}": {
        get: api({
          summary: "One logged completion (admin keys).",
          requestParams: { path: z.object({ completion_id: z.string() }) },
          responses: { "200": { description: "OK", content: json(storedCompletion) }, ...errors(404, 503) },
        }),
      },
      "/v1/completions": {
        post: api({
          summary:
            "Raw text completion and prompt scoring (admin keys): with `echo` and `logprobs`, every prompt token's log-probability, as vLLM answers. `model` may name a registered version (`NAME@vN`), loaded on demand. Not logged: it serves evaluation.",
          requestBody: jsonBody(completionRequest),
          responses: {
            "200": {
              description:
                "The completion; with `stream: true`, `data:` events each holding a `text_completion` chunk (or, after a failure mid-stream, one error body), ending with `data: [DONE]`.",
              content: { ...json(textCompletion), ...serverSentEvents(textCompletionChunk) },
            },
            ...errors(400, 404, 413, 429, 503),
          },
        }),
      },
      "/tokenize": {
        post: api({
          summary: "Tokens of a text or of a conversation through the chat template (admin keys), as vLLM's.",
          requestBody: jsonBody(tokenizeRequest),
          responses: {
            "200": { description: "The tokens.", content: json(tokenizeResponse) },
            ...errors(400, 404, 413, 429, 503),
          },
        }),
      },
      "/detokenize": {
        post: api({
          summary: "The text of tokens (admin keys), as vLLM's.",
          requestBody: jsonBody(detokenizeRequest),
          responses: {
            "200": { description: "The text.", content: json(detokenizeResponse) },
            ...errors(400, 404, 413, 429, 503),
          },
        }),
      },
      "/tokenizer_info": {
        get: api({
          summary: "The special tokens and context length of a model's tokenizer (admin keys), as vLLM's.",
          requestParams: { query: z.object({ model: z.string().optional() }) },
          responses: {
            "200": { description: "The tokenizer.", content: json(tokenizerInfo) },
            ...errors(400, 404, 429, 503),
          },
        }),
      },
      "/v1/feedback": {
        post: api({
          summary: "Record a clinician's judgement of a completion (clinician and admin keys).",
          requestBody: jsonBody(feedbackRequest),
          responses: {
            "201": { description: "OK", content: json(feedbackObject) },
            ...errors(400, 404, 413),
          },
        }),
        get: api({
          summary: "The judgements of one completion (clinician and admin keys).",
          requestParams: { query: feedbackQuery },
          responses: { "200": { description: "OK", content: json(feedbackList) }, ...errors(400, 503) },
        }),
      },
      "/review": { get: page("review", "The clinician review queue.") },
      "/review/compare": { get: page("review", "Two answers to one prompt, side by side.") },
      "/review/login": {
        get: { summary: "The sign-in form.", responses: { "200": { description: "OK", content: html } } },
        post: signIn("/review", pageCookies.review),
      },
      "/review/logout": { post: signOut },
      "/review/feedback": {
        post: {
          summary: "A judgement from the review page's forms.",
          security: signedInOrRedirected("review"),
          requestBody: formBody(feedbackForm),
          responses: {
            "302": { description: "Not signed in: to the sign-in form." },
            "303": { description: "Recorded: back to the queue or the comparison." },
            ...errors(400, 404, 413, 415),
          },
        },
      },
      "/admin": { get: page("admin", "The admin dashboard: versions, rounds, gate reports, audit log.") },
      "/admin/rounds/{round_id}/answers": {
        get: {
          ...page(
            "admin",
            "A round's probe prompts with the champion's and the candidate's answers side by side, each check's result and the answer judge's verdicts, a page at a time.",
          ),
          requestParams: {
            path: z.object({ round_id: z.string().meta({ description: "The round's id (a uuid)." }) }),
            query: roundAnswersQuery,
          },
          responses: {
            ...page("admin", "").responses,
            "404": {
              description: "No such round, or one without an answer evaluation: a page saying so.",
              content: html,
            },
            ...errors(400),
          },
        },
      },
      "/admin/login": {
        get: { summary: "The sign-in form.", responses: { "200": { description: "OK", content: html } } },
        post: signIn("/admin", pageCookies.admin),
      },
      "/admin/logout": { post: signOut },
      "/auth/login": {
        get: {
          summary:
            "Sign in through the identity provider (OpenID Connect, when configured): to its authorization endpoint with PKCE, state and nonce.",
          requestParams: {
            query: z.object({
              to: z
                .enum(["review", "admin"])
                .optional()
                .meta({ description: "The pages to return to. Default: review" }),
            }),
          },
          responses: {
            "302": {
              description:
                "To the identity provider; a short-lived SameSite=Lax cookie for the callback holds the state, nonce and PKCE verifier.",
            },
            "400": {
              description: "`to` names no page: review or admin.",
              content: json(errorResponse),
            },
            "404": ssoNotConfigured,
            "503": providerUnreachable,
          },
        },
      },
      "/auth/callback": {
        get: {
          summary:
            "Where the identity provider sends the browser back: checks state, code (PKCE) and ID token (nonce), gives a role from the person's groups and opens a server-side session.",
          responses: {
            "200": {
              description:
                "Signed in (an httpOnly, SameSite=Strict session cookie): a page that moves on to the pages asked for.",
              content: html,
            },
            "400": { description: "No pending sign-in from this browser, or it expired.", content: html },
            "401": {
              description: "The provider's answer failed a check (state, code, nonce, token).",
              content: html,
            },
            "403": { description: "The person is in no group that gives a role at medgate.", content: html },
            "404": ssoNotConfigured,
            "503": providerUnreachable,
          },
        },
      },
    },
  });
}
