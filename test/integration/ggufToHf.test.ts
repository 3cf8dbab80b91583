// gguf_to_hf.py makes a trainable Hugging Face checkpoint of a model published only as GGUF (the demo model):
// the checkpoint must be the same model, token for token, as the GGUF node-llama-cpp serves.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { EngineScriptError, runEngineScript } from "../../trainer/pythonEngine.ts";
import { testModels } from "../support/fixtures.ts";

let scratch: string | undefined;

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("gguf_to_hf.py", () => {
  it("writes a checkpoint whose log-likelihoods match the GGUF in node-llama-cpp", async () => {
    scratch = await mkdtemp(join(tmpdir(), "medgate-gguf-to-hf-"));
    const out = join(scratch, "tiny-hf");
    const { stdout } = await runEngineScript("gguf_to_hf.py", [
      "--gguf",
      testModels().ggufPath,
      "--out",
      out,
    ]);
    const done = JSON.parse(stdout.trim().split("\n").at(-1)!) as { event: string; path: string };
    expect(done).toMatchObject({ event: "done", path: out, architecture: "LlamaForCausalLM" });
    for (const file of ["config.json", "model.safetensors", "tokenizer.json"])
      expect(existsSync(join(out, file)), file).toBe(true);
    expect(existsSync(`${out}.tmp`)).toBe(false);

    const engine = await InferenceEngine.load({
      modelPath: testModels().ggufPath,
      modelName: "tiny",
      threads: 1,
      gpu: false,
      kvCache: "f32",
      parallel: 1,
    });
    try {
      const messages: ChatMessage[] = [{ role: "user", content: "Is a cough after a cold normal?" }];
      const text = "A cough can last a few weeks after a cold. Please consult a clinician if it gets worse.";
      const [ours] = await engine.scoreAnswers(messages, [text]);
      const { stdout: scored } = await runEngineScript("logprobs.py", [], {
        input: JSON.stringify({
          model_dir: out,
          items: [{ prompt_ids: engine.promptTokensOf(messages), continuation_ids: ours!.tokens }],
        }),
      });
      const reference = (JSON.parse(scored) as { items: { token_logprobs: number[] }[] }).items[0]!;
      expect(reference.token_logprobs).toHaveLength(ours!.tokens.length);
      const worst = Math.max(
        ...reference.token_logprobs.map((value, i) => Math.abs(value - ours!.tokenLogprobs[i]!)),
      );
      expect(worst).toBeLessThan(1e-3);
    } finally {
      await engine[Symbol.asyncDispose]();
    }
  }, 300_000);

  it("fails with the reason when the GGUF file is missing", async () => {
    const error = await runEngineScript("gguf_to_hf.py", [
      "--gguf",
      "/nonexistent/model.gguf",
      "--out",
      "/tmp/x",
    ]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EngineScriptError);
    expect((error as Error).message).toContain("GGUF file not found: /nonexistent/model.gguf");
  });
});
