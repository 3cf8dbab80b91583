// Benchmark suites: the medical suite, each format through a spec, and malformed suite files.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import {
  escapeRegExp,
  fixtures,
  hasData,
  suitePath,
  useScratch,
} from "../../../test/support/benchmarkFiles.ts";
import { contentId } from "./records.ts";
import { loadSuite, readBenchmark } from "./suite.ts";

const { temp, scratch, next } = useScratch();

describe.skipIf(!hasData)("the medical suite", () => {
  it("loads MedMCQA dev and the six MMLU medical subjects from suites/medical.json", async () => {
    const started = performance.now();
    const { suite, benchmarks } = await loadSuite(suitePath);
    const elapsed = performance.now() - started;
    const items = new Map([...benchmarks].map(([name, benchmark]) => [name, benchmark.items]));
    expect(suite.name).toBe("medical");
    expect(suite.version).toBe(1);
    expect(suite.protocol).toBe("lm-eval");
    expect(Object.fromEntries([...items].map(([name, list]) => [name, list.length]))).toEqual({
      medmcqa: 4183,
      mmlu_clinical_knowledge: 265,
      mmlu_medical_genetics: 100,
      mmlu_anatomy: 135,
      mmlu_professional_medicine: 272,
      mmlu_college_biology: 144,
      mmlu_college_medicine: 173,
    });
    expect([...items.values()].flat()).toHaveLength(4183 + 1089);
    for (const [name, list] of items) for (const item of list) expect(item.benchmark).toBe(name);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe("specs", () => {
  it("reads each format through a spec, with the spec's name and limit", async () => {
    const read = async (
      format: Parameters<typeof readBenchmark>[0]["format"],
      path: string,
      limit?: number,
    ) => (await readBenchmark({ name: `x_${format}`, format, path, limit }, fixtures)).items;
    expect((await read("medqa", "medqa_sample.jsonl", 2)).map((item) => item.benchmark)).toEqual([
      "x_medqa",
      "x_medqa",
    ]);
    expect(await read("medmcqa-hf", "medmcqa_hf_sample.jsonl")).toHaveLength(4);
    expect(await read("pubmedqa", "pubmedqa_ori_pqal_sample.json")).toHaveLength(3);
    expect(await read("pubmedqa-hf", "pubmedqa_hf_sample.jsonl")).toHaveLength(3);
    await expect(read("medmcqa", "medmcqa_hf_sample.jsonl")).rejects.toThrow(/field "cop": must be 1\.\.4/u);
  });
});

describe("suites", () => {
  /** Suite files go in one folder, `<scratch>/suites`, which their relative paths start from. */
  async function suiteFile(content: unknown): Promise<string> {
    const dir = join(scratch(), "suites");
    await mkdir(dir, { recursive: true });
    const path = join(dir, `suite-${next()}.json`);
    await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  }
  const fixturePath = (name: string) => relative(join(scratch(), "suites"), join(fixtures, name));

  it("resolves paths against the suite file's folder and keeps the suite's order", async () => {
    const file = await suiteFile({
      name: "fixtures",
      version: 3,
      benchmarks: [
        { name: "pubmedqa", format: "pubmedqa", path: fixturePath("pubmedqa_ori_pqal_sample.json") },
        { name: "medqa", format: "medqa", path: fixturePath("medqa_sample.jsonl"), limit: 2 },
        { name: "medmcqa_hf", format: "medmcqa-hf", path: fixturePath("medmcqa_hf_sample.jsonl") },
        { name: "pubmedqa_hf", format: "pubmedqa-hf", path: fixturePath("pubmedqa_hf_sample.jsonl") },
      ],
    });
    const { suite, benchmarks } = await loadSuite(file);
    expect(suite).toMatchObject({ name: "fixtures", version: 3, protocol: "lm-eval" });
    expect([...benchmarks].map(([name, { items }]) => [name, items.length])).toEqual([
      ["pubmedqa", 3],
      ["medqa", 2],
      ["medmcqa_hf", 4],
      ["pubmedqa_hf", 3],
    ]);
    // The few-shot pool: the whole file where the spec names none (a limit cuts only the scored items).
    expect(benchmarks.get("medqa")!.fewshot).toMatchObject({ sameFile: true });
    expect(benchmarks.get("medqa")!.fewshot.items).toHaveLength(5);
  });

  it("names a protocol and a few-shot file; ids survive renaming the file and reordering its items", async () => {
    const source = await readFile(join(fixtures, "medqa_sample.jsonl"), "utf8");
    const lines = source.split("\n").filter((line) => line.trim() !== "");
    const renamed = await temp("renamed_medqa.jsonl", [...lines].reverse().join("\n"));
    const file = await suiteFile({
      name: "s",
      version: 1,
      protocol: "med42",
      benchmarks: [
        { name: "medqa", format: "medqa", path: fixturePath("medqa_sample.jsonl") },
        {
          name: "medqa_b",
          format: "medqa",
          path: relative(join(scratch(), "suites"), renamed),
          fewshot: fixturePath("medqa_sample.jsonl"),
        },
      ],
    });
    const { suite, benchmarks } = await loadSuite(file);
    expect(suite.protocol).toBe("med42");
    const original = benchmarks.get("medqa")!.items;
    const reordered = benchmarks.get("medqa_b")!.items;
    expect(reordered.map((item) => item.id)).toEqual([...original].reverse().map((item) => item.id));
    expect(original.map((item) => item.id)).toEqual(original.map(contentId));
    expect(new Set(original.map((item) => item.id)).size).toBe(original.length);
    expect(original[0]!.source).toBe("medqa_sample.jsonl:1");
    expect(reordered[0]!.source).toBe(`renamed_medqa.jsonl:1`);
    expect(benchmarks.get("medqa_b")!.fewshot).toMatchObject({ sameFile: false });
    expect(benchmarks.get("medqa_b")!.fewshot.items.map((item) => item.id)).toEqual(
      original.map((item) => item.id),
    );
    const unknown = await suiteFile({ name: "s", version: 1, protocol: "helm", benchmarks: [] });
    await expect(loadSuite(unknown)).rejects.toThrow(/ {2}protocol: .*"lm-eval".*\(got "helm"\)/u);
  });

  it("a bad field fails with its path, the problem and the value", async () => {
    const file = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [
        { name: "a", format: "medqa", path: "x.jsonl" },
        { name: "b", format: "mmlu-csv", path: "y.csv", limt: 5 },
        { name: "c", format: "mmlu", path: "z.csv", limit: 0 },
      ],
    });
    const error = await loadSuite(file).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    const message = error!.message;
    expect(message).toMatch(new RegExp(`^suite ${escapeRegExp(file)} is invalid:\n`, "u"));
    expect(message).toMatch(
      / {2}benchmarks\[1\]\.format: Invalid option: expected one of .*"mmlu".* \(got "mmlu-csv"\)/u,
    );
    expect(message).toMatch(/ {2}benchmarks\[1\]: Unrecognized key: "limt"/u);
    expect(message).toMatch(/ {2}benchmarks\[2\]\.limit: .*\(got 0\)/u);
  });

  it("duplicate names, wrong top-level types", async () => {
    const duplicate = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [
        { name: "a", format: "medqa", path: "x.jsonl" },
        { name: "a", format: "medqa", path: "y.jsonl" },
        { name: "pqa", format: "pubmedqa", path: "z.json" },
      ],
    });
    await expect(loadSuite(duplicate)).rejects.toThrow(/benchmarks\[1\]\.name: duplicate name "a"/u);
    const version = await suiteFile({ name: "s", version: "1", benchmarks: [] });
    const error = await loadSuite(version).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error!.message).toMatch(/ {2}version: .*expected number.*\(got "1"\)/u);
    expect(error!.message).toMatch(/ {2}benchmarks: must name at least one benchmark/u);
  });

  it("bad JSON, a missing benchmark file, a malformed benchmark file", async () => {
    const broken = await suiteFile('{"name": "s",');
    await expect(loadSuite(broken)).rejects.toThrow(new RegExp(`^suite ${escapeRegExp(broken)}: `, "u"));
    const missing = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [{ name: "m", format: "medqa", path: "nope.jsonl" }],
    });
    await expect(loadSuite(missing)).rejects.toThrow(
      new RegExp(`^suite ${escapeRegExp(missing)}: benchmark "m": ENOENT`, "u"),
    );
    const bad = await temp("bad.jsonl", '{"question": "q"}\n');
    const malformed = await suiteFile({
      name: "s",
      version: 1,
      benchmarks: [{ name: "m", format: "medqa", path: relative(join(scratch(), "suites"), bad) }],
    });
    await expect(loadSuite(malformed)).rejects.toThrow(`${bad}:1: field "options": missing`);
  });
});
