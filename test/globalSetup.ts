// Integration-test setup: writes the tiny test models once per input version and hands their paths to tests.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { writeFixtures } from "../trainer/fixtures.ts";
import { engineDir } from "../trainer/pythonEngine.ts";

/** Hash of everything that decides the fixtures' bytes, so a changed generator never reuses stale models. */
async function fixturesKey(): Promise<string> {
  const hash = createHash("sha256");
  const inputs = ["make_fixtures.py", "requirements.txt"];
  for (const name of (await readdir(join(engineDir, "fixtures"))).sort()) inputs.push(join("fixtures", name));
  for (const input of inputs) {
    hash.update(input);
    hash.update(await readFile(join(engineDir, input)));
  }
  return hash.digest("hex").slice(0, 16);
}

export default async function setup(project: TestProject): Promise<void> {
  const dir = join(process.cwd(), ".medgate", "test-fixtures", await fixturesKey());
  if (!existsSync(join(dir, "manifest.json"))) {
    const started = performance.now();
    await writeFixtures(dir);
    console.log(`test models written to ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
    gguf: string;
    hf_dir: string;
  };
  project.provide("fixtures", { dir, ggufPath: join(dir, manifest.gguf), hfDir: join(dir, manifest.hf_dir) });
}
