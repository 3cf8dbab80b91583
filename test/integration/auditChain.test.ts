// The audit trail's hash chain on both backends: appends from many connections at once make one gap-free chain,
// verification fails at the first edited, deleted or reordered row (and at a deleted tail), and a prune keeps
// the rest verifiable from its anchor.
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditEntry,
  appendAudit,
  listAuditEvents,
  pruneAuditEvents,
  verifyAuditChain,
} from "../../db/auditTrail.ts";
import { registerChampion } from "../../db/championChanges.ts";
import { auditEvents } from "../../db/schema.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const read = (index: number): AuditEntry => ({
  actorKind: "key",
  apiKeyId: "4b0c7a1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
  actorName: `Dr. Rivera\u0000 ${index}`,
  role: "clinician",
  action: "GET /v1/chat/completions/{id}",
  completionIds: [`chatcmpl-${index}`],
  query: { zeta: 1, alpha: { b: 2, a: [1, "x"] } },
  clientAddress: "127.0.0.1",
  userAgent: "vitest",
});

describe.each(["postgres", "pglite"] as const)("the audit chain on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.[Symbol.asyncDispose]();
  });
  // Each test starts a new chain.
  beforeEach(async () => {
    await database.db.execute(sql`delete from audit_events`);
    await database.db.execute(sql`delete from audit_chain_head`);
  });

  const appendMany = async (count: number, start = new Date("2020-01-01T00:00:00Z")) => {
    for (let index = 0; index < count; index++) {
      await appendAudit(database.db, read(index), new Date(start.getTime() + index * 86_400_000));
    }
  };

  it("chains appends made at once into one chain without gaps, which verifies", async () => {
    await Promise.all(Array.from({ length: 30 }, (_, index) => appendAudit(database.db, read(index))));
    const rows = await listAuditEvents(database.db);
    expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
    const verified = await verifyAuditChain(database.db);
    expect(verified).toMatchObject({ ok: true, rows: 30, firstSeq: 1, lastSeq: 30 });
    expect(verified.lastHash).toBe(rows.at(-1)!.hash);
    // In whatever order they came, every row is there, its text read back as written.
    expect(rows.map((row) => row.actorName).sort()).toEqual(
      Array.from({ length: 30 }, (_, index) => `Dr. Rivera\u0000 ${index}`).sort(),
    );
    expect(await listAuditEvents(database.db, { completion: "chatcmpl-7" })).toHaveLength(1);
    expect(
      await listAuditEvents(database.db, { actor: "4b0c7a1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b" }),
    ).toHaveLength(30);
  });

  it("fails at an edited row", async () => {
    await appendMany(5);
    await database.db.update(auditEvents).set({ actorName: "someone else" }).where(eq(auditEvents.seq, 3));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 3, kind: "edited" });
  });

  it("fails at an edited row whose hash was recomputed, at the link to it", async () => {
    await appendMany(5);
    const [row] = await database.db.select().from(auditEvents).where(eq(auditEvents.seq, 3));
    const { auditHash } = await import("../../db/auditTrail.ts");
    const { hash: _hash, ...content } = { ...row!, completionIds: ["chatcmpl-other"] };
    await database.db
      .update(auditEvents)
      .set({ completionIds: content.completionIds, hash: auditHash(content) })
      .where(eq(auditEvents.seq, 3));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 4, kind: "broken-link" });
  });

  it("fails at a deleted row, and at a deleted first or last row", async () => {
    await appendMany(6);
    await database.db.delete(auditEvents).where(eq(auditEvents.seq, 6));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 6, kind: "missing" });
    await database.db.delete(auditEvents).where(eq(auditEvents.seq, 4));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 4, kind: "missing" });
    await database.db.delete(auditEvents).where(eq(auditEvents.seq, 1));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 1, kind: "missing" });
  });

  it("fails at reordered rows", async () => {
    await appendMany(5);
    // Rows 2 and 3 swap places: each keeps its content and hash under the other's number.
    await database.db.execute(sql`update audit_events set seq = -2 where seq = 2`);
    await database.db.execute(sql`update audit_events set seq = 2 where seq = 3`);
    await database.db.execute(sql`update audit_events set seq = 3 where seq = -2`);
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 2, kind: "edited" });
  });

  it("records a champion change in the registry's transaction", async () => {
    const version = await registerChampion(
      database.db,
      { name: `audited-${kind}`, ggufPath: "/models/x.gguf", ggufSha256: "ab".repeat(32) },
      { actor: "ops@host (cli)", reason: "first model" },
    );
    const [row] = await listAuditEvents(database.db, { order: "desc", limit: 1 });
    expect(row).toMatchObject({
      actorKind: "system",
      actorName: "ops@host (cli)",
      action: "champion register",
      query: { modelName: `audited-${kind}`, toVersionId: version.id, reason: "first model" },
    });
    expect(await verifyAuditChain(database.db)).toMatchObject({ ok: true });
  });

  it("keeps the rest verifiable after a prune, from the prune's anchor, and notices rows deleted past it", async () => {
    await appendMany(10);
    const before = new Date("2020-01-05T00:00:00Z");
    const { deleted, row } = await pruneAuditEvents(database.db, before, {
      actorKind: "cli",
      actorName: "ops@host (cli)",
      role: "operator",
      action: "ignored: the prune names itself",
      query: { olderThan: "6y" },
    });
    expect(deleted).toBe(4);
    expect(row).toMatchObject({ seq: 11, action: "medgate audit prune" });
    expect(row.query).toMatchObject({ firstKeptSeq: 5, deleted: 4, olderThan: "6y" });
    expect(await verifyAuditChain(database.db)).toMatchObject({
      ok: true,
      rows: 7,
      firstSeq: 5,
      lastSeq: 11,
    });
    await appendMany(2, new Date("2021-01-01T00:00:00Z"));
    expect(await verifyAuditChain(database.db)).toMatchObject({ ok: true, lastSeq: 13 });
    // Deleting the oldest kept row as if it had been pruned too.
    await database.db.delete(auditEvents).where(eq(auditEvents.seq, 5));
    expect((await verifyAuditChain(database.db)).fault).toMatchObject({ seq: 5, kind: "missing" });
  });
});
