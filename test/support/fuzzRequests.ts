// The requests the fuzz test sends, generated from the gateway's OpenAPI document: every documented operation
// (chat completions most), unknown routes and other methods, with valid-shaped and malformed bodies, keys of
// every role, page cookies, odd query strings and paths.
import fc from "fast-check";
import { type Hints, type JsonSchema, malformed, oddStrings, validValue } from "./openApiArbitraries.ts";

export type Operation = {
  path: string;
  method: string;
  parameters?: { in: "path" | "query"; name: string; schema: JsonSchema; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
  security?: Record<string, string[]>[];
};
export type Document = {
  paths: Record<string, Record<string, Omit<Operation, "path" | "method">>>;
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> };
};

/** A request as generated; `known` placeholders are replaced by ids the gateway handed out earlier. */
export type FuzzRequest = {
  operation: Operation | undefined;
  method: string;
  path: string;
  query: [string, string][];
  auth: "admin" | "clinician" | "client" | "none" | "garbage";
  cookie: "admin" | "clinician" | "client" | "none" | "garbage";
  contentType: string | undefined;
  body: { kind: "json"; value: unknown; text?: string } | { kind: "form"; value: unknown } | { kind: "none" };
  /** For a stream: stop reading after the first chunk. */
  abortStream: boolean;
};

export const known = "\u0001known-completion-id";
const otherMethods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/** A URL holds bytes: a lone surrogate can only travel as U+FFFD. */
export const pathSegment = (value: string) => encodeURIComponent(value.toWellFormed());

export function formBody(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value);
  return new URLSearchParams(
    Object.entries(value).map(([key, item]): [string, string] => [
      key,
      typeof item === "string" ? item : JSON.stringify(item),
    ]),
  ).toString();
}

/** Values that reach deep into the routes: the served model, small budgets, ids handed out before. */
const hints: Hints = {
  model: fc.oneof({ weight: 9, arbitrary: fc.constant("tiny") }, { weight: 1, arbitrary: oddStrings }),
  messages: fc.array(
    fc.record({
      role: fc.constantFrom("user", "user", "system", "assistant", "developer"),
      content: fc.oneof(
        { weight: 4, arbitrary: fc.string({ maxLength: 60 }) },
        { weight: 1, arbitrary: oddStrings },
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  max_tokens: fc.integer({ min: 1, max: 6 }),
  max_completion_tokens: fc.integer({ min: 1, max: 6 }),
  n: fc.integer({ min: 1, max: 2 }),
  completion_id: fc.oneof({ weight: 3, arbitrary: fc.constant(known) }, { weight: 1, arbitrary: oddStrings }),
  other_completion_id: fc.oneof(
    { weight: 3, arbitrary: fc.constant(known) },
    { weight: 1, arbitrary: oddStrings },
  ),
  after: fc.oneof(fc.constant(known), oddStrings),
  user: fc.oneof(fc.string({ maxLength: 20 }), oddStrings),
  // Mostly what the engine can answer, so that most valid-shaped requests generate and are logged.
  logprobs: fc.constantFrom(false, null, false, null, true),
  tools: fc.constantFrom(null, [], null, [], [{ type: "function" }]),
  stop: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 2 })),
  response_format: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom({ type: "text" }, { type: "json_object" }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        {
          type: "json_schema",
          json_schema: { name: "a", schema: { type: "object", properties: { a: { type: "string" } } } },
        },
        { type: "json_schema", json_schema: { name: "b", schema: { type: "string", pattern: "^x$" } } },
        { type: "json_schema", json_schema: { name: "c", schema: { type: "array", minItems: 100000 } } },
      ),
    },
  ),
};

export function requestArbitrary(operations: Operation[]): fc.Arbitrary<FuzzRequest> {
  // Chat completions get most of the traffic: they hold the generation, streaming and logging paths.
  const weights: Record<string, number> = { "POST /v1/chat/completions": 16, "POST /v1/feedback": 5 };
  const perOperation = operations.map((operation) => ({
    weight: weights[`${operation.method} ${operation.path}`] ?? 2,
    arbitrary: operationRequest(operation, operations),
  }));
  const unknownRoute = fc
    .record({
      method: fc.constantFrom(...otherMethods),
      path: fc.oneof(
        fc.constantFrom(
          "/v1/completions",
          "/v1/chat",
          "/v1//models",
          "/admin/rounds/x",
          "/%00",
          "/v1/%ff%fe",
        ),
        fc.string({ maxLength: 30 }).map((tail) => `/v1/${encodeURIComponent(tail)}`),
      ),
      auth: fc.constantFrom("admin", "none") as fc.Arbitrary<"admin" | "none">,
    })
    .map(
      ({ method, path, auth }): FuzzRequest => ({
        operation: undefined,
        method,
        path,
        query: [],
        auth,
        cookie: "none",
        contentType: undefined,
        body: { kind: "none" },
        abortStream: false,
      }),
    );
  return fc.oneof({ weight: 2, arbitrary: unknownRoute }, ...perOperation);
}

function operationRequest(operation: Operation, all: Operation[]): fc.Arbitrary<FuzzRequest> {
  const pathParameters = (operation.parameters ?? []).filter((parameter) => parameter.in === "path");
  const queryParameters = (operation.parameters ?? []).filter((parameter) => parameter.in === "query");
  const path = fc
    .tuple(
      ...pathParameters.map((parameter) =>
        fc.oneof(
          (hints[parameter.name] ?? fc.constant("tiny")).map((value) => pathSegment(String(value))),
          oddStrings.map(pathSegment),
          fc.constantFrom("%00", "%ff", "chatcmpl-%00", "..%2F..%2F", "a/b"),
        ),
      ),
    )
    .map((values) =>
      values.reduce(
        (at, value, index) => at.replace(`{${pathParameters[index]!.name}}`, value),
        operation.path,
      ),
    );
  const query = fc
    .tuple(
      ...queryParameters.map((parameter) =>
        fc.option(
          fc.oneof(
            { weight: 3, arbitrary: (hints[parameter.name] ?? validValue(parameter.schema)).map(String) },
            { weight: 1, arbitrary: oddStrings },
          ),
          { freq: 2 },
        ),
      ),
      fc.option(fc.tuple(fc.constantFrom("limit", "order", "x", "completion_id"), oddStrings), { freq: 4 }),
    )
    .map((values) => {
      const extra = values.pop() as [string, string] | null;
      const pairs = values.flatMap((value, index) =>
        value === null ? [] : [[queryParameters[index]!.name, value as string] as [string, string]],
      );
      return extra ? [...pairs, extra] : pairs;
    });
  const [mediaType, media] = Object.entries(operation.requestBody?.content ?? {})[0] ?? [];
  const body: fc.Arbitrary<FuzzRequest["body"]> = media
    ? (() => {
        const valid = validValue(media.schema, hints);
        const value = fc.oneof({ weight: 2, arbitrary: valid }, { weight: 1, arbitrary: malformed(valid) });
        if (mediaType === "application/x-www-form-urlencoded")
          return value.map((v) => ({ kind: "form", value: v }));
        return fc.oneof(
          { weight: 9, arbitrary: value.map((v): FuzzRequest["body"] => ({ kind: "json", value: v })) },
          {
            weight: 1,
            arbitrary: fc
              .tuple(valid, fc.constantFrom("truncate", "garbage", "empty", "bom"))
              .map(([v, how]): FuzzRequest["body"] => {
                const text = JSON.stringify(v);
                const broken = {
                  truncate: text.slice(0, -2),
                  garbage: `${text}}x`,
                  empty: "",
                  bom: `\ufeff${text}`,
                };
                return { kind: "json", value: v, text: broken[how] };
              }),
          },
        );
      })()
    : fc.constant({ kind: "none" } as const);
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant(mediaType) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        undefined,
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json",
        "application/json; charset=utf-16",
      ),
    },
  );
  return (
    fc
      .record({
        method: fc.oneof(
          { weight: 15, arbitrary: fc.constant(operation.method) },
          { weight: 1, arbitrary: fc.constantFrom(...otherMethods) },
        ),
        path,
        query,
        auth: fc.oneof(
          { weight: 4, arbitrary: fc.constant("admin" as const) },
          { weight: 3, arbitrary: fc.constant("clinician" as const) },
          { weight: 2, arbitrary: fc.constant("client" as const) },
          { weight: 1, arbitrary: fc.constantFrom("none" as const, "garbage" as const) },
        ),
        cookie: fc.constantFrom("admin", "admin", "clinician", "client", "none", "garbage") as fc.Arbitrary<
          FuzzRequest["cookie"]
        >,
        contentType,
        body,
        abortStream: fc.boolean(),
      })
      // Another method on the path is that method's operation, or an unknown route.
      .map(
        (request): FuzzRequest => ({
          ...request,
          operation: all.find((other) => other.path === operation.path && other.method === request.method),
        }),
      )
  );
}
