// Two in-process engines decoding at the same time on a CPU (a champion and its canary's candidate) share its
// cores through node-llama-cpp's thread splitter instead of each running its full thread count; alone, an engine
// runs with all of its threads.
import { afterAll, describe, expect, it } from "vitest";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { sharedLlama } from "../../inference/sharedLlama.ts";
import { loadTinyEngine } from "../support/fixtures.ts";

const cores = (await sharedLlama(false)).cpuMathCores;
const engines: InferenceEngine[] = [];

afterAll(async () => {
  await Promise.all(engines.map((engine) => engine[Symbol.asyncDispose]()));
});

/** Generates `count` answers one after the other. */
async function generate(engine: InferenceEngine, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    await engine.completeText(engine.tokenize(`Question ${index}: what lowers a fever?`), {
      maxTokens: 64,
      sampling: { temperature: 1 },
      seed: index,
    });
  }
}

/** Runs `work`, looking at what `look` returns every millisecond meanwhile. */
async function watching<T>(work: Promise<unknown>, look: () => T): Promise<T[]> {
  const seen: T[] = [];
  const timer = setInterval(() => seen.push(look()), 1);
  try {
    await work;
  } finally {
    clearInterval(timer);
  }
  return seen;
}

describe.skipIf(cores < 2)("engines on one CPU", () => {
  it("run alone with all their threads and side by side with a share of the cores each", async () => {
    const champion = await loadTinyEngine({ threads: cores, parallel: 1 });
    const candidate = await loadTinyEngine({ threads: cores, parallel: 1 });
    engines.push(champion, candidate);
    expect(champion.info.threads).toBe(cores);

    const alone = await watching(generate(champion, 2), () => champion.threadsInUse);
    expect(Math.max(...alone)).toBe(cores);

    const together = await watching(
      Promise.all([generate(champion, 8), generate(candidate, 8)]),
      (): [number, number] => [champion.threadsInUse, candidate.threadsInUse],
    );
    expect(together.length).toBeGreaterThan(0);
    // Side by side, each engine's batches ran with fewer threads than it asks for, and at no look did the two
    // hold more threads than the CPU has cores (before the cap, each ran `cores` threads throughout).
    expect(Math.min(...together.map(([first]) => first))).toBeLessThan(cores);
    expect(Math.min(...together.map(([, second]) => second))).toBeLessThan(cores);
    const overCommitted = together.filter(([first, second]) => first + second > cores).length;
    expect(overCommitted / together.length).toBeLessThan(0.1);
  });
});
