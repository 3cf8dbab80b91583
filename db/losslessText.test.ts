import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromStorableJson, fromStorableText, toStorableJson, toStorableText } from "./losslessText.ts";

/** Any UTF-16 code unit (or pair), weighted towards NUL, lone surrogates, U+FFFF and hex digits. */
const anyUnit = fc.oneof(
  fc.constantFrom("\u0000", "\ud800", "\udfff", "\uffff", "f", "0", "\ud83d\ude00"),
  fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
);
const anyText = fc.string({ unit: anyUnit });

const storable = (text: string) => text.isWellFormed() && !text.includes("\u0000");

describe("lossless text", () => {
  it("reads back byte-identical and is always storable", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const stored = toStorableText(text);
        expect(storable(stored)).toBe(true);
        expect(fromStorableText(stored)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves ordinary text as it is, emoji and accents included", () => {
    for (const text of ["What is a fever?", "Fièvre 39 °C 🤒", "", "ffff0000", "\ud83d\ude00"]) {
      expect(toStorableText(text)).toBe(text);
    }
  });

  it("escapes exactly the code units PostgreSQL refuses, and U+FFFF itself", () => {
    expect(toStorableText("a\u0000b")).toBe("a\uffff0000b");
    expect(toStorableText("\ud800x")).toBe("\uffffd800x");
    expect(toStorableText("x\udc00")).toBe("x\uffffdc00");
    expect(toStorableText("\uffff0000")).toBe("\uffffffff0000");
    expect(fromStorableText("\uffffffff0000")).toBe("\uffff0000");
  });

  it("maps every string of a JSON value, keys included, and keeps clean values by reference", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: anyUnit }), (value) => {
        const stored = toStorableJson(value);
        // JSON.stringify writes NUL and lone surrogates (only those) as escapes.
        expect(JSON.stringify(stored)).not.toMatch(/\\u0000|\\ud[89a-f][0-9a-f]{2}/u);
        expect(fromStorableJson(stored)).toEqual(value);
      }),
      { numRuns: 500 },
    );
    const clean = { messages: [{ role: "user", content: "hello" }], n: 1 };
    expect(toStorableJson(clean)).toBe(clean);
    expect(toStorableJson({ "k\u0000": ["\ud800"] })).toEqual({ "k\uffff0000": ["\uffffd800"] });
  });
});
