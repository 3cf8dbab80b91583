// The deterministic test models (tiny HF Llama checkpoint, its f32 GGUF, manifest.json), written by the Python engine.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { llamaCppSourceDir } from "./llamaCppSource.ts";
import { type EngineOptions, engineDir, runEngineScript } from "./pythonEngine.ts";

/**
 * The medical questions with reference answers the test models are trained on
 * (`trainer/engine/fixtures/medical_qa.jsonl`), which the demo and the tests send as traffic.
 */
export function medicalQa(): { q: string; a: string }[] {
  return readFileSync(join(engineDir, "fixtures", "medical_qa.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { q: string; a: string });
}

/** manifest.json as trainer/engine/make_fixtures.py writes it. */
export const fixtureManifestSchema = z.object({
  generator: z.string(),
  /** Folder of the HF checkpoint, relative to the output folder. */
  hf_dir: z.string(),
  /** The GGUF file, relative to the output folder. */
  gguf: z.string(),
  /** Every produced file but the manifest, relative to the output folder. */
  files: z.record(
    z.string(),
    z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/u), bytes: z.number().int() }),
  ),
  /** The checkpoint's config.json. */
  config: z.record(z.string(), z.unknown()),
  special_tokens: z.object({
    bos: z.number(),
    eos: z.number(),
    im_end: z.number(),
    im_start: z.number(),
    unk: z.number(),
  }),
  chat_template: z.string(),
  pretrain: z.object({ seed: z.number(), steps: z.number(), first_loss: z.number(), last_loss: z.number() }),
  versions: z.record(z.string(), z.string()),
});

export type FixtureManifest = z.infer<typeof fixtureManifestSchema>;

export interface WriteFixturesOptions extends EngineOptions {
  /** Pre-training steps of the tiny model; other values give other (still deterministic) weights. Default: 300 */
  steps?: number;
  /** Aborts generation. Default: none */
  signal?: AbortSignal;
}

/**
 * Writes the test models into `outDir` (created if missing) and returns the parsed manifest. The same inputs give
 * byte-identical files on the same machine; about 30 s on two cores.
 */
export async function writeFixtures(
  outDir: string,
  options: WriteFixturesOptions = {},
): Promise<FixtureManifest> {
  const out = resolve(outDir);
  const llamaCpp = await llamaCppSourceDir(options);
  const args = ["--out", out, "--llama-cpp", llamaCpp];
  if (options.steps !== undefined) args.push("--steps", String(options.steps));
  await runEngineScript("make_fixtures.py", args, options);
  const raw: unknown = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
  return fixtureManifestSchema.parse(raw);
}
