// An answer the client received is in the log even when the gateway dies the next instant: `medgate serve` as a
// child process under concurrent whole and streamed load, `kill -9` at a random moment, then served again on the
// same database and spool; every id a client received completely must be stored, and none twice.
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { createDatabase, type DatabaseHandle } from "../../db/createDatabase.ts";
import { completions } from "../../db/schema.ts";
import { CompletionSpool } from "../../gateway/log/CompletionSpool.ts";
import { testModels } from "../support/fixtures.ts";
import { type ServedMedgate, serveMedgate } from "../support/medgateCli.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const trials = 3;
const concurrency = 16;

/** `medgate serve` on the tiny model with 8 slots; resolves once it answers /ready. */
async function serve(where: string[], env: NodeJS.ProcessEnv, apiKey: string): Promise<ServedMedgate> {
  const served = await serveMedgate(
    [
      ...where,
      ...["--model", testModels().ggufPath, "--model-name", "tiny", "--port", "0"],
      ...["--threads", "1", "--gpu", "cpu", "--parallel", "8", "--queue", "64"],
    ],
    env,
  );
  for (let tries = 0; ; tries++) {
    const ready = await fetch(served.url.replace(/\/v1$/u, "/ready"), {
      headers: { authorization: `Bearer ${apiKey}` },
    }).catch(() => undefined);
    if (ready?.status === 200) return served;
    if (tries > 200) throw new Error(`serve never became ready: ${served.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Workers send whole and streamed requests in turn until `stop` aborts them, and collect the id of every answer
 * they received completely: a 200 with its whole JSON body, or a stream that reached `data: [DONE]`.
 */
async function loadUntil(url: string, apiKey: string, stop: AbortSignal): Promise<string[]> {
  const received: string[] = [];
  const worker = async (workerIndex: number) => {
    for (let index = workerIndex; !stop.aborted; index += concurrency) {
      const stream = index % 2 === 1;
      try {
        const response = await fetch(`${url}/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "tiny",
            messages: [{ role: "user", content: `Patient ${index}: fever for two days, what now?` }],
            max_tokens: 16,
            temperature: 0.8,
            seed: index,
            stream,
          }),
          signal: stop,
        });
        const text = await response.text();
        if (response.status !== 200) continue;
        if (!stream) {
          received.push((JSON.parse(text) as { id: string }).id);
        } else if (text.endsWith("data: [DONE]\n\n")) {
          const first = JSON.parse(text.slice("data: ".length, text.indexOf("\n\n"))) as { id: string };
          received.push(first.id);
        }
      } catch {
        // The gateway died under the request (or the load was stopped): nothing was received.
        if (stop.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  return received;
}

describe.each(["postgres", "pglite"] as const)("a gateway killed under load (%s)", (kind) => {
  let database: TestDatabase;
  let spoolRoot: string;
  let apiKey: string;
  let where: string[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    apiKey = (await createApiKey(database.db, { name: "load", role: "admin" })).secret;
    // The child owns the database from now on (PGlite belongs to one process at a time).
    await database.disconnect();
    spoolRoot = await mkdtemp(join(tmpdir(), "medgate-crash-"));
    where = [
      ...(kind === "pglite" ? ["--data-dir", database.dataDir!] : []),
      ...["--spool-dir", join(spoolRoot, "spool")],
    ];
    env = { ...process.env, DATABASE_URL: database.url ?? "" };
  });

  afterAll(async () => {
    await database?.[Symbol.asyncDispose]();
    await rm(spoolRoot, { recursive: true, force: true });
  });

  it(`stores every answer a client received before kill -9, none twice (${trials} trials)`, async () => {
    const received: string[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const served = await serve(where, env, apiKey);
      const stop = new AbortController();
      const load = loadUntil(served.url, apiKey, stop.signal);
      const killAfterMs = 2000 + Math.random() * 4000;
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      const exited = once(served.child, "exit");
      served.child.kill("SIGKILL");
      await exited;
      stop.abort();
      const ids = await load;
      expect(ids.length, `trial ${trial}: answers received before the kill`).toBeGreaterThan(0);
      received.push(...ids);
    }
    // Served once more, the gateway replays whatever the spool kept; then it stops cleanly and frees the database.
    const last = await serve(where, env, apiKey);
    const exited = once(last.child, "exit");
    last.child.kill("SIGTERM");
    expect((await exited)[0], last.stderr()).toBe(0);

    await using reopened: DatabaseHandle = await createDatabase(
      kind === "pglite" ? { dataDir: database.dataDir! } : { url: database.url! },
    );
    const stored = new Set<string>();
    for (let start = 0; start < received.length; start += 500) {
      const batch = received.slice(start, start + 500);
      const rows = await reopened.db
        .select({ id: completions.id })
        .from(completions)
        .where(inArray(completions.id, batch));
      for (const row of rows) stored.add(row.id);
    }
    const lost = received.filter((id) => !stored.has(id));
    expect(lost, `${lost.length} of ${received.length} received answers are not stored`).toEqual([]);
    expect(new Set(received).size).toBe(received.length);
    const [counts] = await reopened.db
      .select({ rows: sql<number>`count(*)::int`, ids: sql<number>`count(distinct ${completions.id})::int` })
      .from(completions);
    expect(counts!.rows).toBe(counts!.ids);
    expect(await CompletionSpool.records(join(spoolRoot, "spool"))).toEqual([]);
  });
});
