// Paths of the test models written once per run by test/globalSetup.ts.
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    fixtures: { dir: string; ggufPath: string; hfDir: string };
  }
}

export function testModels(): { dir: string; ggufPath: string; hfDir: string } {
  return inject("fixtures");
}
