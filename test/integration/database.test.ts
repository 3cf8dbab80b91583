// The database layer on both backends: migrations apply (twice, idempotently), rows round-trip, API keys
// are stored as hashes only, and the registry allows one champion per model name.
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, findActiveApiKey, hashApiKey, listApiKeys, revokeApiKey } from "../../db/apiKeys.ts";
import { createDatabase, DatabaseLockedError } from "../../db/createDatabase.ts";
import { apiKeys, completions, feedback, modelVersions } from "../../db/schema.ts";
import { completionRow } from "../support/completionRows.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

describe.each(["postgres", "pglite"] as const)("database on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.[Symbol.asyncDispose]();
  });

  it("applies migrations idempotently", async () => {
    await database.migrate();
    // Both drivers answer raw SQL with `{ rows }`.
    const { rows } = (await database.db.execute(
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    )) as unknown as { rows: { table_name: string }[] };
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(["api_keys", "completions", "feedback", "model_versions"]),
    );
  });

  it("stores only the hash of an API key and finds it by its secret until revoked", async () => {
    const { key, secret } = await createApiKey(database.db, { name: "Dr. Rivera", role: "clinician" });
    expect(secret).toMatch(/^mg-/);
    const [stored] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, key.id));
    expect(stored!.keyHash).toBe(hashApiKey(secret));
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect((await findActiveApiKey(database.db, secret))?.id).toBe(key.id);
    expect(await findActiveApiKey(database.db, `${secret}x`)).toBeUndefined();
    expect((await revokeApiKey(database.db, key.keyPrefix))?.id).toBe(key.id);
    expect(await findActiveApiKey(database.db, secret)).toBeUndefined();
    expect((await listApiKeys(database.db)).find((row) => row.id === key.id)?.revokedAt).toBeInstanceOf(Date);
  });

  it("round-trips a completion and its feedback, keeping feedback for a completion not yet written", async () => {
    const id = `chatcmpl-${kind}-1`;
    await database.db
      .insert(completions)
      .values(completionRow(id, { promptHash: "abc", promptTokens: 10, timeToFirstTokenMs: 3.25 }));
    // Replays insert the same id again: idempotent.
    await database.db
      .insert(completions)
      .values({
        id,
        createdAt: new Date(),
        request: {},
        stored: false,
        status: "error",
        promptHash: "x",
        promptTokens: 0,
        completionTokens: 0,
        latencyMs: 0,
        modelName: "tiny",
        traceId: "t",
      })
      .onConflictDoNothing();
    const [row] = await database.db.select().from(completions).where(eq(completions.id, id));
    expect(row!.choices).toEqual([{ index: 0, text: "A chronic airway disease.", finishReason: "stop" }]);
    expect(row!.status).toBe("stop");

    const { key } = await createApiKey(database.db, { name: "Dr. Chen", role: "clinician" });
    await database.db
      .insert(feedback)
      .values({ completionId: "chatcmpl-not-yet-flushed", kind: "comment", comment: "ok", apiKeyId: key.id });
    const rows = await database.db
      .select()
      .from(feedback)
      .where(eq(feedback.completionId, "chatcmpl-not-yet-flushed"));
    expect(rows).toHaveLength(1);
  });

  it("stores NUL, lone surrogates and U+FFFF in every text and jsonb column and reads them back byte-identical", async () => {
    const odd = ["nul\u0000here", "lone \ud800 high", "lone \udc00 low", "\uffff0000", "pair 🤒 ok", "plain"];
    const id = `chatcmpl-${kind}-odd`;
    const row = {
      id,
      createdAt: new Date(),
      request: {
        stop: odd,
        response_format: { type: "json_schema", json_schema: { schema: { [odd[0]!]: odd } } },
      },
      messages: odd.map((content) => ({ role: "user", content })),
      choices: [{ index: 0, text: odd.join("|"), finishReason: "stop" }],
      stored: true,
      status: "stop" as const,
      error: odd[1]!,
      promptHash: "odd",
      promptTokens: 1,
      completionTokens: 1,
      latencyMs: 1,
      modelName: "tiny",
      traceId: "t",
      user: odd[2]!,
      metadata: { [odd[0]!]: odd[1]! },
    };
    await database.db.insert(completions).values(row);
    const [stored] = await database.db.select().from(completions).where(eq(completions.id, id));
    expect(stored).toMatchObject(row);
    expect(JSON.stringify(stored!.messages)).toBe(JSON.stringify(row.messages));

    const { key } = await createApiKey(database.db, { name: odd[0]!, role: "clinician" });
    const [comment] = await database.db
      .insert(feedback)
      .values({ completionId: id, kind: "comment", comment: odd.join(""), apiKeyId: key.id })
      .returning();
    expect(comment!.comment).toBe(odd.join(""));
    expect((await listApiKeys(database.db)).find((k) => k.id === key.id)?.name).toBe(odd[0]);
    // Filters compare in the stored form too.
    const byUser = await database.db.select().from(completions).where(eq(completions.user, odd[2]!));
    expect(byUser.map((r) => r.id)).toEqual([id]);
  });

  it.runIf(kind === "pglite")("refuses a second opener of the same embedded folder", async () => {
    expect(database.dataDir).toBeTruthy();
    await expect(createDatabase({ dataDir: database.dataDir })).rejects.toBeInstanceOf(DatabaseLockedError);
  });

  it("allows at most one champion per model name", async () => {
    const version = (n: number, status: "champion" | "retired") => ({
      name: `m-${kind}`,
      version: n,
      ggufPath: `/models/${n}.gguf`,
      ggufSha256: "0".repeat(64),
      status,
    });
    await database.db.insert(modelVersions).values(version(1, "champion"));
    await database.db.insert(modelVersions).values(version(2, "retired"));
    await expect(database.db.insert(modelVersions).values(version(3, "champion"))).rejects.toThrow();
  });
});
