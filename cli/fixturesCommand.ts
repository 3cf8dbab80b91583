// `medgate fixtures --out DIR`: writes the tiny test models through the Python engine and lists them.
import { resolve } from "node:path";
import { writeFixtures } from "../trainer/fixtures.ts";

export async function fixturesCommand(outDir: string): Promise<void> {
  const target = resolve(outDir);
  console.error(`medgate: writing test models to ${target}…`);
  const manifest = await writeFixtures(target);
  console.log(JSON.stringify(manifest, null, 2));
}
