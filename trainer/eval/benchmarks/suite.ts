// Benchmark suites: a JSON file naming benchmark files and their formats, read with one reader per format.
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { readMedMCQA } from "./medmcqa.ts";
import { readMedQA } from "./medqa.ts";
import { readMmluCsv } from "./mmlu.ts";
import { readPubMedQA } from "./pubmedqa.ts";
import { BenchmarkFormatError, type McqItem, readText, shown } from "./records.ts";

export type BenchmarkFormat = "medqa" | "medmcqa" | "medmcqa-hf" | "pubmedqa" | "pubmedqa-hf" | "mmlu";

export type BenchmarkSpec = {
  /** The benchmark's name in results (every item's `benchmark`); unique within a suite. */
  name: string;
  format: BenchmarkFormat;
  /** Relative paths resolve against the suite file's folder. */
  path: string;
  /** Keep only the first `limit` items. */
  limit?: number;
};

export type Suite = { name: string; version: number; benchmarks: BenchmarkSpec[] };

/** The reader of each format. */
const readers: Record<BenchmarkFormat, (path: string) => Promise<McqItem[]>> = {
  medqa: readMedQA,
  medmcqa: (path) => readMedMCQA(path, { cop: "1-based" }),
  "medmcqa-hf": (path) => readMedMCQA(path, { cop: "0-based" }),
  pubmedqa: (path) => readPubMedQA(path, { layout: "original" }),
  "pubmedqa-hf": (path) => readPubMedQA(path, { layout: "hf" }),
  mmlu: (path) => readMmluCsv(path),
};

/** Reads one benchmark of a suite; every item's `benchmark` is the spec's name. */
export async function readBenchmark(spec: BenchmarkSpec, baseDir: string): Promise<McqItem[]> {
  const path = resolve(baseDir, spec.path);
  const items = await readers[spec.format](path);
  const limited = spec.limit === undefined ? items : items.slice(0, spec.limit);
  return limited.map((item) => ({ ...item, benchmark: spec.name }));
}

const benchmarkSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/u, "must be letters, digits, _ . or - (no spaces)"),
  format: z.enum(Object.keys(readers) as [BenchmarkFormat, ...BenchmarkFormat[]]),
  path: z.string().min(1, "must not be empty"),
  limit: z.number().int().positive().optional(),
});

const suiteSchema = z
  .strictObject({
    name: z.string().min(1, "must not be empty"),
    version: z.number().int().positive(),
    benchmarks: z.array(benchmarkSpecSchema).min(1, "must name at least one benchmark"),
  })
  .superRefine((suite, context) => {
    const seen = new Set<string>();
    suite.benchmarks.forEach((spec, i) => {
      if (seen.has(spec.name)) {
        context.addIssue({
          code: "custom",
          path: ["benchmarks", i, "name"],
          message: `duplicate name "${spec.name}"`,
        });
      }
      seen.add(spec.name);
      // mcqScoring.ts gives items whose benchmark starts with "pubmedqa" the yes/no/maybe prompt.
      if (spec.format.startsWith("pubmedqa") && !spec.name.startsWith("pubmedqa")) {
        context.addIssue({
          code: "custom",
          path: ["benchmarks", i, "name"],
          message: `must start with "pubmedqa" for format "${spec.format}" (the scorer picks PubMedQA's prompt by it)`,
        });
      }
    });
  });

function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const part of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/**
 * Reads a suite file `{"name", "version", "benchmarks": [BenchmarkSpec...]}` and every benchmark it names,
 * paths relative to the suite file's folder. `items` maps each benchmark's name to its items, in suite order.
 */
export async function loadSuite(path: string): Promise<{ suite: Suite; items: Map<string, McqItem[]> }> {
  const file = resolve(path);
  let data: unknown;
  try {
    data = JSON.parse(await readText(file));
  } catch (error) {
    throw new Error(`suite ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = suiteSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issuePath(issue.path) || "(top level)";
      const value = issue.path.length > 0 ? valueAt(data, issue.path) : undefined;
      return `  ${where}: ${issue.message}${value === undefined ? "" : ` (got ${shown(value)})`}`;
    });
    throw new Error(`suite ${file} is invalid:\n${problems.join("\n")}`);
  }
  const suite: Suite = parsed.data;
  const baseDir = dirname(file);
  const loaded = await Promise.all(
    suite.benchmarks.map(async (spec) => {
      try {
        return await readBenchmark(spec, baseDir);
      } catch (error) {
        if (error instanceof BenchmarkFormatError) throw error;
        throw new Error(`suite ${file}: benchmark "${spec.name}": ${(error as Error).message}`, {
          cause: error,
        });
      }
    }),
  );
  return { suite, items: new Map(suite.benchmarks.map((spec, i) => [spec.name, loaded[i]!])) };
}
