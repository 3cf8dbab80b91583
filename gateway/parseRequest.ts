// Validation of request bodies and queries against a zod schema, failing as OpenAI does: 400 naming the param.
import type { Context } from "hono";
import type { z } from "zod";
import { BadRequestError } from "./errors.ts";
import { paramOf } from "./protocol.ts";

/** The value parsed by `schema`, or a 400 whose `param` names the first offending field. */
export function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = paramOf(issue.path);
  throw new BadRequestError(
    `Invalid value for '${param ?? "body"}': ${issue.message}`,
    param,
    "invalid_value",
  );
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
  return parseOrThrow(schema, json);
}
