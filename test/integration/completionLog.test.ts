// The response log across a database outage: a cut connection, a restart while spooling and a bad row lose
// nothing and duplicate nothing; the same round trip on PGlite.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDatabase, type Database, type DatabaseHandle } from "../../db/createDatabase.ts";
import type { NewCompletionRow } from "../../db/schema.ts";
import { CompletionLog } from "../../gateway/log/CompletionLog.ts";
import { CompletionSpool } from "../../gateway/log/CompletionSpool.ts";
import { RejectedCompletions } from "../../gateway/log/RejectedCompletions.ts";
import { completionRow as testRow } from "../support/completionRows.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const completionRow = (id: string, content = "What is asthma?") =>
  testRow(id, { messages: [{ role: "user", content }] });

/** Rows whose id starts with `prefix`: how many, how many distinct, and the ids. */
async function storedIds(db: Database, prefix: string) {
  const { rows } = (await db.execute(
    sql`select id from completions where id like ${`${prefix}%`}`,
  )) as unknown as { rows: { id: string }[] };
  const ids = rows.map((row) => row.id);
  return { count: ids.length, distinct: new Set(ids).size, ids: new Set(ids) };
}

const spoolDirs: string[] = [];
async function newSpoolDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "medgate-spool-"));
  spoolDirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of spoolDirs) await rm(dir, { recursive: true, force: true });
});

describe("completion log on PostgreSQL behind a cuttable proxy", () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let logDatabase: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    proxy = await startTcpProxy(database.url!);
    logDatabase = await createDatabase({ url: proxy.url });
  });
  afterAll(async () => {
    await logDatabase?.[Symbol.asyncDispose]();
    await proxy?.close();
    await database?.[Symbol.asyncDispose]();
  });

  it("loses and duplicates nothing when the database drops out mid-traffic", async () => {
    const errors: Error[] = [];
    const log = await CompletionLog.open({
      db: logDatabase.db,
      spoolDir: await newSpoolDir(),
      retryIntervalMs: 100,
      onError: (error) => errors.push(error),
    });
    const producers = 20;
    const rowsPerProducer = 100;
    const expected = new Set<string>();
    const started = performance.now();
    // 20 producers × 100 rows, ~30 ms apart: ~3 s of traffic, with the database cut from 0.75 s to 2.25 s.
    const outage = (async () => {
      await sleep(750);
      proxy.cut();
      await sleep(1500);
      proxy.restore();
    })();
    await Promise.all(
      Array.from({ length: producers }, async (_, producer) => {
        for (let index = 0; index < rowsPerProducer; index++) {
          const id = `lossless-${producer}-${index}`;
          expected.add(id);
          log.record(completionRow(id));
          await sleep(Math.random() * 60);
        }
      }),
    );
    await outage;
    const produced = performance.now();
    await log.flush();
    expect(log.stats.queued).toBe(0);
    await vi.waitFor(
      () => {
        expect(log.stats).toMatchObject({ mode: "direct", spooled: 0, queued: 0 });
      },
      { timeout: 20_000, interval: 50 },
    );
    const recovered = performance.now();
    await log[Symbol.asyncDispose]();

    const stored = await storedIds(database.db, "lossless-");
    expect(stored.count).toBe(2000);
    expect(stored.distinct).toBe(2000);
    expect(stored.ids).toEqual(expected);
    const stats = log.stats;
    expect(stats.spooledTotal).toBeGreaterThan(0);
    expect(stats.replayed).toBeGreaterThanOrEqual(stats.spooledTotal);
    expect(stats.written + stats.spooledTotal).toBe(2000);
    expect(errors.some((error) => error.message.startsWith("database write failed, spooling"))).toBe(true);
    console.log(
      `lossless: ${JSON.stringify(stats)}; traffic ${(produced - started).toFixed(0)} ms, ` +
        `back to direct ${(recovered - produced).toFixed(0)} ms after it ended; ${errors.length} errors reported`,
    );
  });

  it("replays what a closed log spooled while the database was down when it is opened again", async () => {
    const spoolDir = await newSpoolDir();
    const errors: Error[] = [];
    const onError = (error: Error) => errors.push(error);
    proxy.cut();
    try {
      const first = await CompletionLog.open({ db: logDatabase.db, spoolDir, retryIntervalMs: 100, onError });
      for (let index = 0; index < 50; index++) first.record(completionRow(`restart-${index}`));
      await first.flush();
      expect(first.stats).toMatchObject({
        mode: "spooling",
        spooled: 50,
        spooledTotal: 50,
        written: 0,
        queued: 0,
      });
      await first[Symbol.asyncDispose](); // its last replay finds the database still down
      expect(first.stats.spooled).toBe(50);
      await expect(first.record(completionRow("restart-after-close"))).rejects.toThrow(
        /closed: restart-after-close/,
      );
      expect(errors.at(-1)?.message).toMatch(/closed: restart-after-close/);
      expect((await storedIds(database.db, "restart-")).count).toBe(0);
    } finally {
      proxy.restore();
    }

    const second = await CompletionLog.open({ db: logDatabase.db, spoolDir, onError });
    expect(second.stats).toMatchObject({ mode: "direct", spooled: 0, replayed: 50 });
    const stored = await storedIds(database.db, "restart-");
    expect(stored.count).toBe(50);
    expect(stored.distinct).toBe(50);
    await second[Symbol.asyncDispose]();
  });

  it("sets aside a row the database refuses, with the reason, and keeps writing the rest", async () => {
    const spoolDir = await newSpoolDir();
    const errors: Error[] = [];
    const log = await CompletionLog.open({
      db: logDatabase.db,
      spoolDir,
      onError: (error) => errors.push(error),
    });
    for (let index = 0; index < 10; index++) {
      // A token count past PostgreSQL's integer range is refused (SQLSTATE 22003), whatever the connection.
      log.record({
        ...completionRow(`poison-${index}`, "bad\u0000byte \ud800"),
        promptTokens: index === 3 ? 2 ** 40 : 5,
      });
    }
    await log.flush();
    expect(log.stats).toMatchObject({ mode: "direct", written: 9, rejected: 1, spooledTotal: 0 });
    expect((await storedIds(database.db, "poison-")).ids).not.toContain("poison-3");
    expect((await storedIds(database.db, "poison-")).count).toBe(9);
    expect(errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/row poison-3 refused by the database \(SQLSTATE 22003\).*medgate logs rejected/),
    ]);
    await log[Symbol.asyncDispose]();
    const [rejected, ...more] = await new RejectedCompletions(spoolDir).list();
    expect(more).toEqual([]);
    expect(rejected).toMatchObject({
      id: "poison-3",
      code: "22003",
      reason: expect.stringMatching(/out of range/),
    });
    expect(rejected!.row.messages).toEqual([{ role: "user", content: "bad\u0000byte \ud800" }]);
  });

  it("replays refused rows after a fix, beside a running log, and again at its next start", async () => {
    const spoolDir = await newSpoolDir();
    await database.db.execute(
      sql`alter table completions add constraint refuse_ward_9 check (metadata->>'ward' is distinct from '9')`,
    );
    const log = await CompletionLog.open({ db: logDatabase.db, spoolDir, onError: () => {} });
    const ward9 = (id: string) => ({ ...completionRow(id), metadata: { ward: "9" } });
    log.record(ward9("fix-1"));
    log.record(ward9("fix-2"));
    log.record(completionRow("fix-3"));
    await log.flush();
    expect(log.stats.rejected).toBe(2);
    const rejected = new RejectedCompletions(spoolDir);
    // Still refused: the rows stay, with the new time and reason.
    expect(await rejected.replay(database.db)).toEqual({ stored: 0, alreadyStored: 0, stillRefused: 2 });
    expect((await rejected.list()).map((record) => [record.id, record.code])).toEqual([
      ["fix-1", "23514"],
      ["fix-2", "23514"],
    ]);
    // The fix; one row is replayed by hand while the log keeps running, the other waits for its next start.
    await database.db.execute(sql`alter table completions drop constraint refuse_ward_9`);
    expect(await rejected.replay(database.db)).toEqual({ stored: 2, alreadyStored: 0, stillRefused: 0 });
    expect(await rejected.list()).toEqual([]);
    log.record(ward9("fix-4"));
    await log.flush();
    await log[Symbol.asyncDispose]();
    expect((await storedIds(database.db, "fix-")).count).toBe(4);

    // A row an earlier version set aside (the bare row, no reason) is replayed when the next log opens.
    const legacy = await CompletionSpool.open<NewCompletionRow>(join(spoolDir, "rejected"));
    await legacy.append([completionRow("fix-legacy", "nul \u0000 from an older version")]);
    await legacy[Symbol.asyncDispose]();
    const reopened = await CompletionLog.open({ db: logDatabase.db, spoolDir, onError: () => {} });
    expect(reopened.stats.rejected).toBe(0);
    await reopened[Symbol.asyncDispose]();
    const [row] = (
      (await database.db.execute(
        sql`select messages from completions where id = 'fix-legacy'`,
      )) as unknown as {
        rows: { messages: unknown }[];
      }
    ).rows;
    expect(row).toBeDefined();
  });
});

describe("completion log on PGlite", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
  });
  afterAll(async () => {
    await database?.[Symbol.asyncDispose]();
  });

  it("writes every recorded row once", async () => {
    const log = await CompletionLog.open({ db: database.db, spoolDir: await newSpoolDir(), batchSize: 64 });
    for (let index = 0; index < 500; index++) log.record(completionRow(`pglite-${index}`));
    log.record(completionRow("pglite-0")); // the same id again is stored once
    await log.flush();
    expect(log.stats).toMatchObject({ mode: "direct", queued: 0, written: 501, spooledTotal: 0 });
    await log[Symbol.asyncDispose]();
    const stored = await storedIds(database.db, "pglite-");
    expect(stored.count).toBe(500);
    expect(stored.distinct).toBe(500);
  });
});
