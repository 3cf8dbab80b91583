// Benchmark suites: a JSON file naming benchmark files and their formats, read with one reader per format.
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { type Protocol, protocols } from "../protocols.ts";
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
  /**
   * The benchmark's few-shot split, a file in the same format (MMLU's `<subject>_dev.csv`, MedMCQA's, MedQA's or
   * PubMedQA's train split), relative to the suite file's folder. Default: the benchmark's own file, a question
   * never its own example.
   */
  fewshot?: string;
};

export type Suite = {
  name: string;
  version: number;
  /** The protocol its runs use unless `eval run --protocol` or the gate's config names another. */
  protocol: Protocol;
  benchmarks: BenchmarkSpec[];
};

/** A benchmark's items and the pool its few-shot examples come from. */
export type LoadedBenchmark = { items: McqItem[]; fewshot: { items: McqItem[]; sameFile: boolean } };

/** The reader of each format. */
const readers: Record<BenchmarkFormat, (path: string) => Promise<McqItem[]>> = {
  medqa: readMedQA,
  medmcqa: (path) => readMedMCQA(path, { cop: "1-based" }),
  "medmcqa-hf": (path) => readMedMCQA(path, { cop: "0-based" }),
  pubmedqa: (path) => readPubMedQA(path, { layout: "original" }),
  "pubmedqa-hf": (path) => readPubMedQA(path, { layout: "hf" }),
  mmlu: (path) => readMmluCsv(path),
};

/** Reads one benchmark of a suite and its few-shot pool; every item's `benchmark` is the spec's name. */
export async function readBenchmark(spec: BenchmarkSpec, baseDir: string): Promise<LoadedBenchmark> {
  const read = async (file: string) =>
    (await readers[spec.format](resolve(baseDir, file))).map((item) => ({ ...item, benchmark: spec.name }));
  const all = await read(spec.path);
  const items = spec.limit === undefined ? all : all.slice(0, spec.limit);
  if (spec.fewshot === undefined) return { items, fewshot: { items: all, sameFile: true } };
  return { items, fewshot: { items: await read(spec.fewshot), sameFile: false } };
}

const benchmarkSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/u, "must be letters, digits, _ . or - (no spaces)"),
  format: z.enum(Object.keys(readers) as [BenchmarkFormat, ...BenchmarkFormat[]]),
  path: z.string().min(1, "must not be empty"),
  limit: z.number().int().positive().optional(),
  fewshot: z.string().min(1, "must not be empty").optional(),
});

const suiteSchema = z
  .strictObject({
    name: z.string().min(1, "must not be empty"),
    version: z.number().int().positive(),
    protocol: z.enum(protocols).default("lm-eval"),
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
 * Reads a suite file `{"name", "version", "protocol"?, "benchmarks": [BenchmarkSpec...]}` and every benchmark
 * it names, paths relative to the suite file's folder. `benchmarks` maps each benchmark's name to its items and
 * few-shot pool, in suite order.
 */
export async function loadSuite(
  path: string,
): Promise<{ suite: Suite; benchmarks: Map<string, LoadedBenchmark> }> {
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
  return { suite, benchmarks: new Map(suite.benchmarks.map((spec, i) => [spec.name, loaded[i]!])) };
}
