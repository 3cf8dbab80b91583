// Paths of the test models written once per run by test/globalSetup.ts.
import { inject } from "vitest";
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
