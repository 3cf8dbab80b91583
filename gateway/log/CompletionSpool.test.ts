// The completion spool on a real folder: order, appends during replays, sink failures, torn lines, crashes.
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CompletionSpool, SpoolLockedError } from "./CompletionSpool.ts";

type Row = { id: string; text: string };

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "medgate-spool-"));
  dirs.push(dir);
  return dir;
}

const rows = (from: number, count: number): Row[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `chatcmpl-${from + i}`,
    text: `answer ${from + i}\nline 2`,
  }));

const segmentsIn = async (dir: string) =>
  (await readdir(dir)).filter((name) => name.endsWith(".jsonl")).sort();

/** A sink that records every batch it accepts. */
function collector() {
  const delivered: Row[] = [];
  const sink = async (batch: Row[]) => {
    delivered.push(...batch);
  };
  return { delivered, sink };
}

describe("CompletionSpool", () => {
  it("replays appended records in order, in batches, and empties the spool", async () => {
    const dir = await tempDir();
    const spool = await CompletionSpool.open<Row>(dir);
    const input = rows(0, 7);
    await spool.append(input.slice(0, 3));
    await spool.append(input.slice(3));
    expect(await spool.pending()).toBe(7);

    const batches: Row[][] = [];
    const result = await spool.replay(async (batch) => void batches.push(batch), { batchSize: 3 });

    expect(result).toEqual({ replayed: 7, skippedTornLines: 0, skippedCorruptLines: 0 });
    expect(batches.map((batch) => batch.length)).toEqual([3, 3, 1]);
    expect(batches.flat()).toEqual(input);
    expect(await spool.pending()).toBe(0);
    expect(await segmentsIn(dir)).toEqual([]);
    await spool[Symbol.asyncDispose]();
  });

  it("keeps appends made during a replay for the next one, delivering nothing twice", async () => {
    const spool = await CompletionSpool.open<Row>(await tempDir());
    await spool.append(rows(0, 50));
    const { delivered, sink } = collector();

    const first = await spool.replay(async (batch) => {
      if (delivered.length === 0) await spool.append(rows(50, 10));
      await sink(batch);
    });
    expect(first.replayed).toBe(50);
    expect(await spool.pending()).toBe(10);

    const second = await spool.replay(sink);
    expect(second.replayed).toBe(10);
    expect(delivered).toEqual(rows(0, 60));
    await spool[Symbol.asyncDispose]();
  });

  it("keeps the undelivered segments when the sink fails and delivers them on the next replay", async () => {
    const dir = await tempDir();
    // Room for one append of ten rows per segment, so each append gets its own segment.
    const spool = await CompletionSpool.open<Row>(dir, { maxSegmentBytes: 600 });
    const input = rows(0, 300);
    for (let i = 0; i < 300; i += 10) await spool.append(input.slice(i, i + 10));
    expect(await segmentsIn(dir)).toHaveLength(30);

    const { delivered, sink } = collector();
    let calls = 0;
    const failing = async (batch: Row[]) => {
      if (++calls === 5) throw new Error("database went away");
      await sink(batch);
    };
    // Batches of 4 over segments of 10: calls 1-3 deliver segment 1, call 4 half of segment 2, call 5 fails.
    await expect(spool.replay(failing, { batchSize: 4 })).rejects.toThrow("database went away");
    expect(delivered).toHaveLength(14);
    expect(await spool.pending()).toBe(290);

    const second = await spool.replay(sink, { batchSize: 4 });
    expect(second.replayed).toBe(290);
    expect(new Set(delivered.map((row) => row.id))).toEqual(new Set(input.map((row) => row.id)));
    expect(delivered).toHaveLength(304); // only the 4 rows of the interrupted segment came twice
    expect(await spool.pending()).toBe(0);
    await spool[Symbol.asyncDispose]();
  });

  it("skips and counts a torn last line and a corrupt middle line, delivering the rest", async () => {
    const dir = await tempDir();
    let spool = await CompletionSpool.open<Row>(dir);
    await spool.append(rows(0, 3));
    await spool[Symbol.asyncDispose]();
    const [first] = await segmentsIn(dir);
    await appendFile(join(dir, first!), '{"id":"chatcmpl-torn","text":"cut sh');
    await writeFile(
      join(dir, "segment-000000000002.jsonl"),
      `${JSON.stringify(rows(3, 1)[0])}\nnot json\n{"no":"id"}\n${JSON.stringify(rows(4, 1)[0])}\n`,
    );

    spool = await CompletionSpool.open<Row>(dir);
    expect(await spool.pending()).toBe(5);
    const { delivered, sink } = collector();
    expect(await spool.replay(sink)).toEqual({ replayed: 5, skippedTornLines: 1, skippedCorruptLines: 2 });
    expect(delivered).toEqual(rows(0, 5));
    await spool[Symbol.asyncDispose]();
  });

  it("replays everything after a process is killed without close(), taking over its stale lock", async () => {
    const dir = await tempDir();
    const moduleUrl = new URL("./CompletionSpool.ts", import.meta.url).href;
    const child = `
      import { CompletionSpool } from ${JSON.stringify(moduleUrl)};
      const spool = await CompletionSpool.open(process.argv[1]);
      const rows = ${String(rows)}; // the test's own helper, as transpiled JavaScript
      for (let from = 0; from < 100; from += 20) await spool.append(rows(from, 20));
      process.kill(process.pid, "SIGKILL");
    `;
    const tsxLoader = fileURLToPath(import.meta.resolve("tsx"));
    const killed = await promisify(execFile)(
      process.execPath,
      ["--import", tsxLoader, "--input-type=module", "-e", child, dir],
      { timeout: 20_000 },
    ).catch((error: { signal?: string }) => error);
    expect(killed).toMatchObject({ signal: "SIGKILL" });
    expect(await readdir(dir)).toContain("spool.lock");

    const spool = await CompletionSpool.open<Row>(dir);
    const { delivered, sink } = collector();
    expect((await spool.replay(sink)).replayed).toBe(100);
    expect(delivered).toEqual(rows(0, 100));
    await spool[Symbol.asyncDispose]();
  });

  it("refuses a second owner of the folder while the first holds it", async () => {
    const dir = await tempDir();
    const spool = await CompletionSpool.open<Row>(dir);
    await expect(CompletionSpool.open<Row>(dir)).rejects.toBeInstanceOf(SpoolLockedError);
    await expect(CompletionSpool.open<Row>(dir)).rejects.toThrow(`live process ${process.pid}`);
    await spool[Symbol.asyncDispose]();
    await (await CompletionSpool.open<Row>(dir))[Symbol.asyncDispose]();
  });

  it("round-trips 10k records from 100 concurrent appends without interleaving lines", async () => {
    const dir = await tempDir();
    const spool = await CompletionSpool.open<Row>(dir);
    const input = rows(0, 10_000);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => spool.append(input.slice(i * 100, i * 100 + 100))),
    );
    await spool[Symbol.asyncDispose]();

    const reopened = await CompletionSpool.open<Row>(dir);
    expect(await reopened.pending()).toBe(10_000);
    const { delivered, sink } = collector();
    expect(await reopened.replay(sink)).toEqual({
      replayed: 10_000,
      skippedTornLines: 0,
      skippedCorruptLines: 0,
    });
    expect(delivered).toEqual(input);
    await reopened[Symbol.asyncDispose]();
  });
});
