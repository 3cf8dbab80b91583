// Maps a client's JSON Schema onto the subset llama.cpp grammars can enforce, refusing what they cannot.
import type { GbnfJsonSchema } from "node-llama-cpp";
import { InvalidGenerationRequestError } from "./errors.ts";

const param = "response_format.json_schema.schema";
const scalarTypes = new Set(["string", "number", "integer", "boolean", "null"]);
/** Keywords that describe but do not constrain: safe to drop. */
const annotations = new Set([
  "title",
  "description",
  "$schema",
  "$id",
  "$comment",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const stringFormats = new Set(["date-time", "time", "date"]);

/**
 * Returns a schema node-llama-cpp's grammar generator understands: `anyOf` becomes `oneOf` (the same set
 * of documents for generation), `definitions` become `$defs`. A keyword that would constrain the output
 * but cannot be enforced (`pattern`, `minimum`, ...) is refused, so that every constrained answer really
 * validates against the schema the client sent.
 */
export function toGrammarSchema(schema: unknown): GbnfJsonSchema {
  return convert(schema, "#") as GbnfJsonSchema;
}

function fail(path: string, message: string): never {
  throw new InvalidGenerationRequestError(`Unsupported JSON schema at ${path}: ${message}`, param);
}

function convert(node: unknown, path: string): Record<string, unknown> {
  if (typeof node !== "object" || node === null || Array.isArray(node))
    fail(path, "a schema must be an object");
  const source = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    const at = `${path}/${key}`;
    if (annotations.has(key)) {
      if (key === "description" && typeof value === "string") out.description = value;
      continue;
    }
    switch (key) {
      case "type":
        out.type = convertType(value, at);
        break;
      case "enum":
        if (!Array.isArray(value) || value.some((item) => typeof item === "object" && item !== null)) {
          fail(at, "enum must list strings, numbers, booleans or null");
        }
        out.enum = value;
        break;
      case "const":
        if (typeof value === "object" && value !== null)
          fail(at, "const must be a string, number, boolean or null");
        out.const = value;
        break;
      case "anyOf":
      case "oneOf":
        if (!Array.isArray(value) || value.length === 0) fail(at, `${key} must be a non-empty array`);
        out.oneOf = value.map((item, index) => convert(item, `${at}/${index}`));
        break;
      case "properties":
        out.properties = mapValues(value, at);
        break;
      case "$defs":
      case "definitions":
        out.$defs = { ...(out.$defs as object | undefined), ...mapValues(value, at) };
        break;
      case "additionalProperties":
        out.additionalProperties = typeof value === "boolean" ? value : convert(value, at);
        break;
      case "items":
        if (Array.isArray(value))
          out.prefixItems = value.map((item, index) => convert(item, `${at}/${index}`));
        else out.items = typeof value === "boolean" ? undefined : convert(value, at);
        break;
      case "prefixItems":
        if (!Array.isArray(value)) fail(at, "prefixItems must be an array");
        out.prefixItems = value.map((item, index) => convert(item, `${at}/${index}`));
        break;
      case "$ref":
        if (typeof value !== "string") fail(at, "$ref must be a string");
        out.$ref = value.replace(/^#\/definitions\//u, "#/$defs/");
        if (!String(out.$ref).startsWith("#/$defs/"))
          fail(at, "only local references to #/$defs/... are supported");
        break;
      case "required":
        if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
          fail(at, "required must be an array of property names");
        }
        out.required = value;
        break;
      case "format":
        if (typeof value !== "string" || !stringFormats.has(value)) {
          fail(
            at,
            `format "${String(value)}" cannot be enforced (supported: ${[...stringFormats].join(", ")})`,
          );
        }
        out.format = value;
        break;
      case "minLength":
      case "maxLength":
      case "minItems":
      case "maxItems":
      case "minProperties":
      case "maxProperties":
        if (!Number.isInteger(value) || (value as number) < 0)
          fail(at, `${key} must be a non-negative integer`);
        out[key] = value;
        break;
      case "strict":
        break;
      default:
        fail(at, `the keyword "${key}" cannot be enforced during generation`);
    }
  }
  if (out.type === "object" && out.properties === undefined && out.additionalProperties === undefined) {
    // A bare object means "any object": say so, since the grammar generator reads absence as "no keys".
    out.additionalProperties = true;
  }
  return out;
}

function convertType(value: unknown, path: string): unknown {
  const types = Array.isArray(value) ? value : [value];
  for (const type of types) {
    if (typeof type !== "string" || (!scalarTypes.has(type) && type !== "object" && type !== "array")) {
      fail(path, `unknown type ${JSON.stringify(type)}`);
    }
  }
  if (Array.isArray(value) && value.some((type) => type === "object" || type === "array")) {
    fail(path, "a list of types may only hold string, number, integer, boolean and null; use anyOf instead");
  }
  return value;
}

function mapValues(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(path, "must be an object");
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, convert(child, `${path}/${key}`)]),
  );
}
