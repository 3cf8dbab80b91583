// fast-check arbitraries built from the gateway's own OpenAPI document: valid-shaped values of a JSON schema,
// and malformed variants of them (wrong types, missing and unknown fields, NUL and lone surrogates, huge and
// deep values), so a fuzz test covers whatever routes and fields the document lists.
import fc from "fast-check";

export type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  $ref?: string;
};

/** Per property name, the values to generate instead of the schema's (a served model name, small budgets...). */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

/** Strings that have broken servers: NUL, lone surrogates, U+FFFF, control and format characters, long text. */
export const oddStrings = fc.constantFrom(
  "",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff tail",
  "\uffff0000",
  "🤒 fever",
  "\u202e\u200b",
  "\r\n\t",
  "%00",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "' or 1=1 --",
  "x".repeat(5000),
);

/** Any JSON value, weighted towards odd strings and numbers. */
const oddJson = fc.oneof(
  oddStrings,
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A value nested `depth` levels deep. */
export const nested = (depth: number): unknown => {
  let value: unknown = "bottom";
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value };
  return value;
};

/** Values that satisfy `schema` (within small bounds: short strings, few items). */
export function validValue(schema: JsonSchema, hints: Hints = {}, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((item) => validValue(item, hints, depth)));
  if (Array.isArray(schema.type)) {
    return fc.oneof(...schema.type.map((type) => validValue({ ...schema, type }, hints, depth)));
  }
  switch (schema.type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer": {
      const min = Math.max(schema.minimum ?? -1000, -1000);
      return fc.integer({ min, max: Math.max(min, Math.min(schema.maximum ?? 1000, 1000)) });
    }
    case "number": {
      const min = Math.max(schema.minimum ?? schema.exclusiveMinimum ?? -1000, -1000);
      const max = Math.max(min, Math.min(schema.maximum ?? schema.exclusiveMaximum ?? 1000, 1000));
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case "string": {
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern, "u"), { maxLength: 40 });
      const minLength = schema.minLength ?? 0;
      return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 24, 24)) });
    }
    case "array": {
      const minLength = schema.minItems ?? 0;
      const items = schema.items ?? {};
      return fc.array(depth > 4 ? fc.constant(null) : validValue(items, hints, depth + 1), {
        minLength,
        maxLength: Math.max(minLength, Math.min(schema.maxItems ?? 3, 3)),
      });
    }
    case "object":
      return objectValue(schema, hints, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectValue(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const model = Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [
      name,
      hints[name] ?? validValue(property, hints, depth + 1),
    ]),
  );
  const known = fc.record(model, { requiredKeys: [...required].filter((name) => name in model) });
  if (typeof schema.additionalProperties !== "object" || Object.keys(properties).length > 0) return known;
  const values = validValue(schema.additionalProperties, hints, depth + 1);
  const keys = schema.propertyNames ? validValue(schema.propertyNames) : fc.string({ maxLength: 12 });
  return fc.dictionary(keys as fc.Arbitrary<string>, values, { maxKeys: 3 });
}

/** Malformed variants of a valid value: one field wrong, missing or added, or the whole value replaced. */
export function malformed(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(valid, fc.nat(), oddJson).map(([value, at, odd]) => replaceAt(value, at, odd)),
    },
    { weight: 2, arbitrary: fc.tuple(valid, fc.nat()).map(([value, at]) => deleteAt(value, at)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.string({ maxLength: 10 }), oddJson)
        .map(([value, key, odd]) => (isObject(value) ? { ...value, [key]: odd } : value)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat()).map(([value, at]) => replaceAt(value, at, nested(80))),
    },
    { weight: 1, arbitrary: oddJson },
  );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Every path to a value inside `value`, in a stable order. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(value)) for (const [index, item] of value.entries()) paths(item, [...prefix, index], out);
  else if (isObject(value))
    for (const [key, item] of Object.entries(value)) paths(item, [...prefix, key], out);
  return out;
}

function update(
  value: unknown,
  path: (string | number)[],
  change: (old: unknown) => unknown | typeof remove,
) {
  if (path.length === 0) {
    const next = change(value);
    return next === remove ? undefined : next;
  }
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<
    string | number,
    unknown
  >;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (rest.length === 0) {
    const next = change(copy[head]);
    if (next === remove) {
      if (Array.isArray(copy)) copy.splice(head as number, 1);
      else delete copy[head];
    } else copy[head] = next;
  } else copy[head] = update(copy[head], rest, change);
  return copy;
}

const remove = Symbol("remove");

function replaceAt(value: unknown, at: number, replacement: unknown): unknown {
  const all = paths(value);
  return update(value, all[at % all.length]!, () => replacement);
}

function deleteAt(value: unknown, at: number): unknown {
  const all = paths(value).filter((path) => path.length > 0);
  if (all.length === 0) return value;
  return update(value, all[at % all.length]!, () => remove);
}
