// Which client JSON schemas can be enforced by a grammar, and how they are rewritten for it.
import { describe, expect, it } from "vitest";
import { InvalidGenerationRequestError } from "./errors.ts";
import { toGrammarSchema } from "./grammarSchema.ts";

describe("toGrammarSchema", () => {
  it("keeps what grammars enforce and drops annotations", () => {
    expect(
      toGrammarSchema({
        $schema: "http://json-schema.org/draft-07/schema#",
        title: "Triage",
        type: "object",
        properties: { level: { type: "string", enum: ["a", "b"], description: "level" } },
        required: ["level"],
        additionalProperties: false,
      }),
    ).toEqual({
      type: "object",
      properties: { level: { type: "string", enum: ["a", "b"], description: "level" } },
      required: ["level"],
      additionalProperties: false,
    });
  });

  it("rewrites anyOf and definitions to what node-llama-cpp reads", () => {
    expect(
      toGrammarSchema({
        anyOf: [{ $ref: "#/definitions/dose" }, { type: "null" }],
        definitions: { dose: { type: "number" } },
      }),
    ).toEqual({ oneOf: [{ $ref: "#/$defs/dose" }, { type: "null" }], $defs: { dose: { type: "number" } } });
  });

  it("reads a bare object as any object", () => {
    expect(toGrammarSchema({ type: "object" })).toEqual({ type: "object", additionalProperties: true });
  });

  it.each([
    [{ type: "strng" }, "unknown type"],
    [{ type: "string", pattern: "^a$" }, '"pattern"'],
    [{ type: "integer", minimum: 3 }, '"minimum"'],
    [{ type: "string", format: "email" }, "email"],
    [{ $ref: "http://example.com/schema" }, "local references"],
    [{ type: ["object", "null"] }, "anyOf"],
    ["not a schema", "must be an object"],
  ])("refuses %j with a message naming the problem", (schema, fragment) => {
    expect(() => toGrammarSchema(schema)).toThrow(InvalidGenerationRequestError);
    expect(() => toGrammarSchema(schema)).toThrow(fragment);
  });
});
