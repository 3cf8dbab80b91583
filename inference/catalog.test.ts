import { describe, expect, it } from "vitest";
import { findCatalogEntry, modelCatalog } from "./catalog.ts";

describe("modelCatalog", () => {
  it("has unique, lower-case ids", () => {
    const ids = modelCatalog.map((entry) => entry.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toBe(id.toLowerCase());
  });

  it("gives every entry a system prompt, a context length and a default GGUF file", () => {
    for (const entry of modelCatalog) {
      expect(entry.defaultSystemPrompt.trim(), entry.id).not.toBe("");
      expect(entry.contextLength, entry.id).toBeGreaterThan(0);
      expect(entry.gguf.length, entry.id).toBeGreaterThan(0);
      for (const file of entry.gguf) expect(file.file, entry.id).toMatch(/\.gguf$/);
      expect(entry.sourceUrl, entry.id).toMatch(/^https:\/\//);
    }
  });

  it("lists Med42-v2 8B and 70B with the model card's Llama 3 facts", () => {
    for (const id of ["med42-v2-8b", "med42-v2-70b"]) {
      const entry = findCatalogEntry(id);
      expect(entry?.chatTemplate).toBe("llama3");
      expect(entry?.contextLength).toBe(8192);
      expect(entry?.license).toBe("llama3");
      expect(entry?.systemPromptSource).toBe("model-card");
      expect(entry?.defaultSystemPrompt).toMatch(
        /^You are a helpful, respectful and honest medical assistant\./,
      );
      expect(entry?.gguf[0]?.quant).toBe("Q4_K_M");
    }
  });

  it("lists both Hippo models", () => {
    expect(findCatalogEntry("hippo-mistral-7b")?.hfRepo).toBe("emrecanacikgoz/hippomistral");
    expect(findCatalogEntry("hippo-llama2-7b")?.hfRepo).toBe("emrecanacikgoz/hippollama");
  });

  it("marks exactly the SmolLM2 entry as the local-only demo", () => {
    const demos = modelCatalog.filter((entry) => entry.demo);
    expect(demos.map((entry) => entry.id)).toEqual(["smollm2-135m-instruct"]);
    expect(demos[0]?.gguf[0]).toEqual({ repo: null, file: "SmolLM2-135M-Instruct.Q4_1.gguf", quant: "Q4_1" });
    expect(demos[0]?.chatTemplate).toBe("chatml");
    // Only the demo is installed by setup instead of downloaded.
    for (const entry of modelCatalog.filter((candidate) => !candidate.demo)) {
      expect(
        entry.gguf.every((file) => file.repo !== null),
        entry.id,
      ).toBe(true);
    }
  });
});

describe("findCatalogEntry", () => {
  it("finds ids case-insensitively and returns undefined for unknown ones", () => {
    expect(findCatalogEntry("Med42-v2-8B")?.id).toBe("med42-v2-8b");
    expect(findCatalogEntry("gpt-5")).toBeUndefined();
  });
});
