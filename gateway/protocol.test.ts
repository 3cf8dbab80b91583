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
