// Validation of request bodies and queries against a zod schema, failing as OpenAI does: 400 naming the param.
import type { Context } from "hono";
import type { z } from "zod";
import { BadRequestError, UnsupportedMediaTypeError } from "./errors.ts";
import { paramOf } from "./protocol.ts";

/** The value parsed by `schema`, or a 400 whose `param` names the first offending field. */
export function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = innermostIssue(parsed.error.issues[0]!);
  const param = paramOf(issue.path);
  throw new BadRequestError(
    `Invalid value for '${param ?? "body"}': ${issue.message}`,
    param,
    "invalid_value",
  );
}

/**
 * A failed union says only "Invalid input". When exactly one branch has the value's type (an array where the
 * union takes a string or an array of parts), that branch's own first issue says what is wrong, and where;
 * when none has, the message lists the types the union takes.
 */
function innermostIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return issue;
  const wrongType = (inner: z.core.$ZodIssue) => inner.code === "invalid_type" && inner.path.length === 0;
  const matching = issue.errors.filter((branch) => branch.length > 0 && !branch.some(wrongType));
  if (matching.length === 1) {
    const inner = innermostIssue(matching[0]![0]!);
    return { path: [...issue.path, ...inner.path], message: inner.message };
  }
  const expected = issue.errors.flatMap((branch) =>
    branch.flatMap((inner) =>
      inner.code === "invalid_type" && inner.path.length === 0 ? [inner.expected] : [],
    ),
  );
  if (matching.length > 0 || expected.length === 0) return issue;
  return { path: issue.path, message: `must be ${[...new Set(expected)].join(" or ")}` };
}

/** The request's JSON body parsed by `schema`; malformed JSON is a 400 `invalid_json`. */
export async function parseJsonBody<Schema extends z.ZodType>(
  c: Context,
  schema: Schema,
): Promise<z.infer<Schema>> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw new BadRequestError(
      "We could not parse the JSON body of your request. Send a valid JSON object.",
      null,
      "invalid_json",
    );
  }
  const deep = pathDeeperThan(json, maxJsonDepth);
  if (deep) {
    // The first segments name the field at fault the way OpenAI does (`response_format.json_schema.schema`).
    const param = paramOf(deep.slice(0, 3));
    throw new BadRequestError(
      `The JSON body is nested more than ${maxJsonDepth} levels deep${param ? ` under '${param}'` : ""}.`,
      param,
      "nesting_too_deep",
    );
  }
  return parseOrThrow(schema, json);
}

/**
 * Deepest nesting of arrays and objects a JSON body may have. It leaves a JSON schema in `response_format`
 * about 60 levels, far more than any real schema, and keeps every later walk of the body (validation,
 * grammar building, the log's jsonb) far from a stack overflow or PostgreSQL's own depth limit.
 */
export const maxJsonDepth = 64;

/** The path of the first value nested more than `limit` levels deep, if any; iterative, so any depth is safe. */
export function pathDeeperThan(value: unknown, limit: number): (string | number)[] | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: node, path } = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (path.length >= limit) return path;
    const entries = Array.isArray(node)
      ? node.map((item, index) => [index, item] as const)
      : Object.entries(node);
    for (const [key, item] of entries) stack.push({ value: item, path: [...path, key] });
  }
  return undefined;
}

/**
 * The fields of an HTML form post. The pages' forms send `application/x-www-form-urlencoded` (no file
 * fields anywhere), so any other body is refused with 415 rather than parsed.
 */
export async function parseFormBody(c: Context): Promise<Record<string, string>> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new UnsupportedMediaTypeError(
      `Forms are posted as application/x-www-form-urlencoded; got ${type ? `'${type}'` : "no content type"}.`,
    );
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(await c.req.text())) fields[name] ??= value;
  return fields;
}
