// Files for the benchmark readers' tests: the shipped fixtures, the real benchmark files beside the repository
// (../shared/data/benchmarks), a scratch folder per test file, and the check of a BenchmarkFormatError.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import { BenchmarkFormatError } from "../../trainer/eval/benchmarks/records.ts";

export const fixtures = fileURLToPath(new URL("../../trainer/eval/fixtures/", import.meta.url));
export const suitePath = fileURLToPath(new URL("../../trainer/eval/suites/medical.json", import.meta.url));
export const data = fileURLToPath(new URL("../../../shared/data/benchmarks/", import.meta.url));
export const hasData = existsSync(join(data, "medmcqa", "dev.jsonl")) && existsSync(join(data, "mmlu"));
if (!hasData) console.warn(`${data} is absent; skipping the tests on the real benchmark files`);

/** A scratch folder for this test file (made before its tests, deleted after); `temp` writes a file into it. */
export function useScratch() {
  let dir = "";
  let counter = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "medgate-benchmarks-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    scratch: () => dir,
    next: () => counter++,
    /** Writes `content` to a fresh sub-folder as `name` and returns its path. */
    async temp(name: string, content: string): Promise<string> {
      const folder = join(dir, String(counter++));
      await mkdir(folder);
      const path = join(folder, name);
      await writeFile(path, content);
      return path;
    },
  };
}

/** The error `read` throws, checked to be a BenchmarkFormatError. */
export async function formatError(read: Promise<unknown>): Promise<BenchmarkFormatError> {
  const error = await read.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BenchmarkFormatError);
  return error as BenchmarkFormatError;
}

export async function expectFormatError(
  read: Promise<unknown>,
  where: { file: string; line: number; field: string | undefined },
  message: string,
) {
  const error = await formatError(read);
  expect({ file: error.file, line: error.line, field: error.field }).toEqual(where);
  expect(error.message).toBe(message);
}

export const jsonl = (rows: unknown[]) => `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`;

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&");
}
