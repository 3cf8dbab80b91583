// Promotion reaches a live gateway through LISTEN/NOTIFY: 50 streams in flight finish on the old engine,
// requests after the switch are answered and logged under the new version; rollback returns, audited.
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { championChangesOf, makeChampion, rollbackChampion } from "../../db/championChanges.ts";
import { findChampion, registerModelVersion } from "../../db/modelVersions.ts";
import { completions, type ModelVersionRow } from "../../db/schema.ts";
import { modelLoader, NameServing } from "../../gateway/models/NameServing.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

let database: TestDatabase;
let gateway: TestGateway;
let serving: NameServing;
let first: ModelVersionRow;
let second: ModelVersionRow;
const log: string[] = [];

const engineOptions = { threads: 1, gpu: false as const, parallel: 4, contextSize: 512, maxQueue: 128 };

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${log.join(" | ")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  const { ggufPath } = testModels();
  database = await createTestDatabase("postgres");
  gateway = await startGateway({ modelPath: ggufPath, ...engineOptions }, { databaseUrl: database.url });
  // Version 2: another file (a copy of the same weights, so answers stay comparable).
  const dir = await mkdtemp(join(tmpdir(), "medgate-swap-"));
  const copy = join(dir, "tiny-v2.gguf");
  await copyFile(ggufPath, copy);
  const sha = await sha256OfFile(ggufPath);
  first = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath,
    ggufSha256: sha,
    status: "candidate",
  });
  await makeChampion(database.db, first.id, {
    kind: "register",
    actor: "hotSwap.test",
    reason: "first champion",
  });
  second = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath: copy,
    ggufSha256: sha,
    status: "candidate",
    parentId: first.id,
  });
  serving = await NameServing.start({
    database,
    models: gateway.models,
    name: "tiny",
    given: { path: ggufPath, registeredBy: "hotSwap.test" },
    // Polling so rarely that only a notification can explain a quick swap.
    pollMs: 600_000,
    load: modelLoader({ kind: "node-llama-cpp" }, "tiny", engineOptions),
    log: (message) => log.push(message),
  });
  expect(gateway.models.get("tiny")!.versionId).toBe(first.id);
}, 120_000);

afterAll(async () => {
  await serving?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
});

const ask = (content: string) =>
  gateway.client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content }],
    max_tokens: 8,
  });

describe("hot swap", () => {
  it("switches the champion under 50 streams in flight without failing one", async () => {
    const oldEngine = gateway.models.get("tiny")!.engine!;
    let firstChunks = 0;
    const streams = Array.from({ length: 50 }, async (_, i) => {
      const stream = await gateway.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: `Question ${i}: what is a fever?` }],
        max_tokens: 160,
        temperature: 0.8,
        seed: i,
        stream: true,
      });
      let text = "";
      let finish: string | null = null;
      let id = "";
      let counted = false;
      for await (const chunk of stream) {
        id = chunk.id;
        if (!counted) {
          counted = true;
          firstChunks++;
        }
        text += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { id, text, finish };
    });
    await waitFor(() => firstChunks >= 4, "streams to start");
    await makeChampion(database.db, second.id, {
      kind: "force-promote",
      actor: "hotSwap.test",
      reason: "hot swap under load",
    });
    await waitFor(() => gateway.models.get("tiny")!.versionId === second.id, "the swap");
    const afterSwitch = await Promise.all([
      ask("After the switch: a cough?"),
      ask("After the switch: a rash?"),
    ]);
    const results = await Promise.allSettled(streams);
    const failures = results.filter((result) => result.status === "rejected");
    expect(failures, JSON.stringify(failures.slice(0, 2))).toEqual([]);
    for (const result of results) {
      expect(result.status === "fulfilled" && ["stop", "length"].includes(result.value.finish ?? "")).toBe(
        true,
      );
    }
    for (const answer of afterSwitch) expect(answer.choices[0]!.finish_reason).toMatch(/stop|length/u);

    await gateway.completionLog.flush();
    for (const answer of afterSwitch) {
      const [row] = await database.db.select().from(completions).where(eq(completions.id, answer.id));
      expect(row!.modelVersionId).toBe(second.id);
    }
    const streamed = await Promise.all(
      results.map(async (result) => {
        const id = result.status === "fulfilled" ? result.value.id : "";
        const [row] = await database.db.select().from(completions).where(eq(completions.id, id));
        return row;
      }),
    );
    expect(streamed.every((row) => row !== undefined && ["stop", "length"].includes(row.status))).toBe(true);
    // Streams that had started on the old engine were logged under the old version.
    expect(streamed.filter((row) => row!.modelVersionId === first.id).length).toBeGreaterThanOrEqual(4);
    // The old engine is disposed once its last request is done.
    await waitFor(() => oldEngine.disposed, "the old engine to be retired");
  }, 180_000);

  it("rolls back to the previous champion, audited, and the gateway follows", async () => {
    await rollbackChampion(database.db, "tiny", {
      actor: "hotSwap.test",
      reason: "clinicians reported regressions",
    });
    expect((await findChampion(database.db, "tiny"))!.id).toBe(first.id);
    await waitFor(() => gateway.models.get("tiny")!.versionId === first.id, "the rollback swap");
    const answer = await ask("After the rollback: a headache?");
    await gateway.completionLog.flush();
    const [row] = await database.db.select().from(completions).where(eq(completions.id, answer.id));
    expect(row!.modelVersionId).toBe(first.id);
    const audit = await championChangesOf(database.db, "tiny");
    expect(audit.map((change) => [change.kind, change.fromVersionId, change.toVersionId])).toEqual([
      ["rollback", second.id, first.id],
      ["force-promote", first.id, second.id],
      ["register", null, first.id],
    ]);
    expect(audit[0]).toMatchObject({ actor: "hotSwap.test", reason: "clinicians reported regressions" });
    // The promotion and the rollback (the first champion was served at start, not swapped in).
    expect(serving.watcher.swaps).toBe(2);
  }, 60_000);

  it("refuses to load a champion whose file does not match its sha256, and keeps serving", async () => {
    const bad = await registerModelVersion(database.db, {
      name: "tiny",
      ggufPath: second.ggufPath,
      ggufSha256: "0".repeat(64),
      status: "candidate",
    });
    await makeChampion(database.db, bad.id, {
      kind: "force-promote",
      actor: "hotSwap.test",
      reason: "bad file",
    });
    await waitFor(() => log.some((line) => line.includes("refusing to load")), "the refusal");
    expect(gateway.models.get("tiny")!.versionId).toBe(first.id);
    expect((await ask("Still answering?")).choices[0]!.finish_reason).toMatch(/stop|length/u);
  }, 60_000);
});
