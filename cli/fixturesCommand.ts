// `medgate fixtures --out DIR`: writes the tiny test models through the Python engine and lists them.
import { resolve } from "node:path";
import { z } from "zod";
import { writeFixtures } from "../trainer/fixtures.ts";
import { defineCommand } from "./commandLine.ts";
import { option } from "./config.ts";

export const fixturesCommand = defineCommand({
  usage: `Usage: medgate fixtures --out DIR

Deterministically writes the small models the tests use into DIR: a tiny Llama chat model as a
Hugging Face checkpoint (DIR/tiny-llama/) and as GGUF (DIR/tiny-llama.gguf), with DIR/manifest.json
listing every file's sha256. Needs the Python engine environment (npm run setup).`,
  options: z.object({
    out: option(z.string({ error: "fixtures needs --out DIR" }).min(1), {
      help: "Output folder (created if missing)",
      value: "DIR",
      env: false,
    }),
  }),
  async run({ out }) {
    const target = resolve(out);
    console.error(`medgate: writing test models to ${target}…`);
    const manifest = await writeFixtures(target);
    console.log(JSON.stringify(manifest, null, 2));
  },
});
