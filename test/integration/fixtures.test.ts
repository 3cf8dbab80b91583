// The test models: written deterministically by the Python engine, loadable by node-llama-cpp as a ChatML chat
// model, and scorable by the transformers reference (trainer/engine/logprobs.py).
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, type Llama, LlamaChatSession, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FixtureManifest, writeFixtures } from "../../trainer/fixtures.ts";
import { runEngineScript } from "../../trainer/pythonEngine.ts";

const dirs: string[] = [];
let first: FixtureManifest;
let second: FixtureManifest;
let llama: Llama;
let model: LlamaModel;

beforeAll(async () => {
  dirs.push(
    await mkdtemp(join(tmpdir(), "medgate-fixtures-a-")),
    await mkdtemp(join(tmpdir(), "medgate-fixtures-b-")),
  );
  // Both runs at once: each trains on one thread, so two cores take about as long as one run.
  [first, second] = await Promise.all([writeFixtures(dirs[0]!), writeFixtures(dirs[1]!)]);
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  model = await llama.loadModel({ modelPath: join(dirs[0]!, first.gguf) });
});

afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

describe("writeFixtures", () => {
  it("writes byte-identical files on every run, as its manifest says", async () => {
    expect(Object.keys(first.files)).toEqual(
      expect.arrayContaining([
        "tiny-llama.gguf",
        "tiny-llama/model.safetensors",
        "tiny-llama/tokenizer.model",
      ]),
    );
    expect(second.files).toEqual(first.files);
    for (const [name, { sha256: expected }] of Object.entries(first.files)) {
      expect(await sha256(join(dirs[1]!, name)), name).toBe(expected);
    }
    expect(await readFile(join(dirs[1]!, "manifest.json"), "utf8")).toBe(
      await readFile(join(dirs[0]!, "manifest.json"), "utf8"),
    );
    expect(first.files["tiny-llama.gguf"]!.bytes).toBeLessThan(4 * 1024 * 1024);
  });

  it("gives a GGUF that carries the ChatML template and its end-of-turn token", () => {
    expect(model.fileInfo.metadata.tokenizer.chat_template).toBe(first.chat_template);
    expect(model.tokenize("<|im_end|>", true)).toEqual([first.special_tokens.im_end]);
    expect(model.tokenize("<|im_start|>", true)).toEqual([first.special_tokens.im_start]);
    expect(model.tokens.eos).toBe(first.special_tokens.eos);
    expect(model.tokens.bos).toBe(first.special_tokens.bos);
  });

  it("answers a corpus question with corpus words and ends its turn (greedy, one thread)", async () => {
    const context = await model.createContext({ contextSize: 256, threads: 1 });
    try {
      const session = new LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: "" });
      const { responseText, stopReason } = await session.promptWithMeta("What is a fever?", {
        maxTokens: 64,
        temperature: 0,
      });
      expect(responseText.toLowerCase()).toContain("fever");
      expect(stopReason).toBe("eogToken");
    } finally {
      await context.dispose();
    }
  });

  it("is scored by logprobs.py on exactly the ids given", async () => {
    const prompt = model.tokenize(
      "<|im_start|>user\nWhat is a fever?<|im_end|>\n<|im_start|>assistant\n",
      true,
    );
    const answer = model.tokenize("A fever is a body temperature of 38 degrees Celsius or higher.", false);
    const shuffled = [...answer].reverse();
    const { stdout } = await runEngineScript("logprobs.py", [], {
      input: JSON.stringify({
        model_dir: join(dirs[0]!, first.hf_dir),
        items: [
          { prompt_ids: prompt, continuation_ids: answer },
          { prompt_ids: prompt, continuation_ids: shuffled },
          { prompt_ids: prompt, continuation_ids: [] },
        ],
      }),
    });
    const { items } = JSON.parse(stdout) as { items: { token_logprobs: number[]; sum: number }[] };
    const [memorised, reversed, empty] = items;
    expect(memorised!.token_logprobs).toHaveLength(answer.length);
    expect(memorised!.token_logprobs.every((value) => Number.isFinite(value) && value <= 0)).toBe(true);
    expect(memorised!.sum).toBeCloseTo(
      memorised!.token_logprobs.reduce((a, b) => a + b, 0),
      9,
    );
    expect(memorised!.sum).toBeGreaterThan(reversed!.sum);
    expect(empty).toEqual({ token_logprobs: [], sum: 0 });
  });
});
