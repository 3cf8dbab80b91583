// A round whose config has a canary section and whose candidate passes the gate goes to `canary` instead of
// promoting: the champion stays, a running canary of the round's candidate is written and audited, and the round's
// canary step watches it (here stopped by the test, as a trainer stopping leaves it).
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canariesOf } from "../../db/canaries.ts";
import { findChampion, findModelVersion, registerModelVersion } from "../../db/modelVersions.ts";
import { createRound, findRound } from "../../db/rounds.ts";
import { auditEvents, type ModelVersionRow, roundPairs, roundPrompts, rounds } from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { driveRound } from "../../trainer/RoundRunner.ts";
import { parseRoundConfig } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { registerTinyChampion, testModels } from "../support/fixtures.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

let database: TestDatabase;
let champion: ModelVersionRow;
let candidate: ModelVersionRow;

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  champion = await registerTinyChampion(database.db, "tiny", "canaryGate.test");
  // The candidate: the champion's weights in another file, so it passes the gate's tolerances.
  const copy = join(await mkdtemp(join(tmpdir(), "medgate-canary-gate-")), "tiny-candidate.gguf");
  await copyFile(testModels().ggufPath, copy);
  candidate = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath: copy,
    ggufSha256: await sha256OfFile(copy),
    hfDir: champion.hfDir,
    status: "evaluating",
    parentId: champion.id,
  });
}, 120_000);

afterAll(async () => {
  await database?.[Symbol.asyncDispose]();
});

describe("a round with a canary section", () => {
  it("sends a candidate that passed the gate to a canary, keeping the champion", async () => {
    const config = parseRoundConfig(
      tinyRoundConfig({
        // The candidate is the champion's weights: held-out pairs cannot tell them apart, so none is required.
        gate: { limit: 5, answers: { enabled: false }, policy: { minHeldoutPreferenceAccuracy: 0 } },
        canary: { mode: "split", share: 0.2, maxComparisons: 50, maxDuration: "2d" },
      }),
    );
    const round = await createRound(database.db, {
      modelName: "tiny",
      baseVersionId: champion.id,
      config: config as unknown as Record<string, unknown>,
      since: null,
      until: new Date(),
      createdBy: "canaryGate.test",
    });
    await database.db
      .update(rounds)
      .set({ state: "evaluating", candidateVersionId: candidate.id })
      .where(eq(rounds.id, round.id));
    // One held-out pair, as the judging step leaves them.
    const [prompt] = await database.db
      .insert(roundPrompts)
      .values({
        roundId: round.id,
        promptHash: "canary-gate",
        messages: [{ role: "user", content: "What lowers a fever?" }],
        completionIds: [],
      })
      .returning();
    await database.db.insert(roundPairs).values({
      roundId: round.id,
      promptId: prompt!.id,
      chosen: "Paracetamol, fluids and rest.",
      rejected: "Nothing helps.",
      source: "clinician-preference",
      margin: null,
      split: "heldout",
    });
    const stop = new AbortController();
    const driving = driveRound(round.id, {
      database,
      workDir: await mkdtemp(join(tmpdir(), "medgate-rounds-")),
      signal: stop.signal,
    }).catch((error: unknown) => error);
    const deadline = Date.now() + 280_000;
    while ((await findRound(database.db, round.id))!.state === "evaluating" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    stop.abort(new Error("the test stops the trainer"));
    await driving;

    const after = (await findRound(database.db, round.id))!;
    expect(after.state, JSON.stringify(after.stats.gate?.reasons)).toBe("canary");
    expect(after.stats.gate?.passed).toBe(true);
    expect((await findChampion(database.db, "tiny"))!.id).toBe(champion.id);
    expect((await findModelVersion(database.db, candidate.id))!.status).toBe("evaluating");
    const [canary] = await canariesOf(database.db, "tiny");
    expect(canary).toMatchObject({
      state: "running",
      mode: "split",
      share: 0.2,
      roundId: round.id,
      championVersionId: champion.id,
      candidateVersionId: candidate.id,
    });
    expect(canary!.rule).toMatchObject({
      threshold: 0.5,
      alpha: 0.05,
      maxComparisons: 50,
      maxDurationMs: 2 * 86_400_000,
    });
    const audit = await database.db.select().from(auditEvents).where(eq(auditEvents.action, "canary start"));
    expect(audit.map((row) => row.query.canaryId)).toEqual([canary!.id]);
  }, 300_000);
});
