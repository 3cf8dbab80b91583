// Paths of the test models written once per run by test/globalSetup.ts.
import { inject } from "vitest";
import { makeChampion } from "../../db/championChanges.ts";
import type { Database } from "../../db/createDatabase.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import type { ModelVersionRow } from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";

declare module "vitest" {
  export interface ProvidedContext {
    fixtures: { dir: string; ggufPath: string; hfDir: string };
  }
}

export function testModels(): { dir: string; ggufPath: string; hfDir: string } {
  return inject("fixtures");
}

/** The tiny test model on the CPU with one thread (fastest for it), 2 sequences unless `options` say otherwise. */
export function loadTinyEngine(options: Partial<InferenceEngineOptions> = {}): Promise<InferenceEngine> {
  return InferenceEngine.load({
    modelPath: testModels().ggufPath,
    modelName: "tiny",
    gpu: false,
    threads: 1,
    parallel: 2,
    ...options,
  });
}

/** Registers the tiny test model (GGUF and checkpoint) as `name`, and makes it that name's champion. */
export async function registerTinyChampion(
  db: Database,
  name: string,
  actor: string,
): Promise<ModelVersionRow> {
  const { ggufPath, hfDir } = testModels();
  const version = await registerModelVersion(db, {
    name,
    ggufPath,
    ggufSha256: await sha256OfFile(ggufPath),
    hfDir,
    status: "candidate",
  });
  await makeChampion(db, version.id, { kind: "register", actor, reason: "first champion" });
  return version;
}
