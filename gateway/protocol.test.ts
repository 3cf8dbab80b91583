// Request validation and parameter naming of the OpenAI protocol module.
import { describe, expect, it } from "vitest";
import { chatCompletionRequest, paramOf } from "./protocol.ts";

describe("chatCompletionRequest", () => {
  it("strips unknown fields instead of refusing them", () => {
    const parsed = chatCompletionRequest.parse({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      brand_new_field: true,
    });
    expect(parsed).not.toHaveProperty("brand_new_field");
  });

  it("accepts content parts, nulls for optional fields and both token limits", () => {
    const parsed = chatCompletionRequest.safeParse({
      model: "m",
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      temperature: null,
      max_completion_tokens: 10,
      stop: "END",
    });
    expect(parsed.success).toBe(true);
  });
});

describe("paramOf", () => {
  it("names nested parameters the way OpenAI does", () => {
    expect(paramOf(["messages", 0, "content"])).toBe("messages[0].content");
    expect(paramOf(["response_format", "json_schema", "name"])).toBe("response_format.json_schema.name");
    expect(paramOf([])).toBeNull();
  });
});

describe("what the chat request takes, as the OpenAPI document says it", () => {
  const parse = (fields: Record<string, unknown>) =>
    chatCompletionRequest.safeParse({ model: "m", messages: [{ role: "user", content: "hi" }], ...fields });

  it("takes text content, an assistant turn without content, logprobs and an empty tool list", () => {
    expect(
      parse({
        messages: [
          { role: "developer", content: [{ type: "text", text: "Be brief." }] },
          { role: "user", content: "hi" },
          { role: "assistant", content: null },
        ],
        logprobs: true,
        top_logprobs: 3,
        tools: [],
      }).success,
    ).toBe(true);
  });

  it("refuses tool roles, tools, non-text parts, missing content, empty stops and unenforceable schemas", () => {
    for (const fields of [
      { messages: [{ role: "tool", content: "42" }] },
      { messages: [{ role: "user" }] },
      { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
      { tools: [{ type: "function", function: { name: "f" } }] },
      { stop: "" },
      { response_format: { type: "json_schema", json_schema: { name: "x", schema: { pattern: "^a" } } } },
      { response_format: { type: "json_schema", json_schema: { name: "x" } } },
    ]) {
      expect(parse(fields).success, JSON.stringify(fields)).toBe(false);
    }
  });
});
