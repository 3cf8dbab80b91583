import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { championChangesOf } from "../../db/championChanges.ts";
import { findChampion } from "../../db/modelVersions.ts";
import { roundCandidatesOf, roundMetricsOf, roundPairsOf, roundPromptsOf } from "../../db/rounds.ts";
import { modelVersions, roundMetrics, rounds } from "../../db/schema.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { testModels } from "../support/fixtures.ts";
import { processesMatching, spawnMedgate } from "../support/medgateCli.ts";
import { logAnswer } from "../support/roundTraffic.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const corpus = medicalQa();

let database: TestDatabase;
let workDir: string;
let configPath: string;
let clinicianKeyId: string;

/** Logged answers to `items` with a clinician's correction of each: the answer plus advice to consult. */
async function logCorrectedTraffic(items: { q: string; a: string }[], at: Date): Promise<void> {
  for (const [i, item] of items.entries()) {
    await logAnswer(database.db, {
      id: `chatcmpl-seed${at.getTime()}x${i}`,
      model: "tiny",
      question: item.q,
      text: item.a,
      at: new Date(at.getTime() + i),
      correction: { text: `${item.a} Please consult a clinician.`, clinicianKeyId },
    });
  }
}

const databaseArgs = () => [
  "--database-url",
  database.url!,
  "--work-dir",
  workDir,
  "--round-config",
  configPath,
];

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-rounds-"));
  configPath = join(workDir, "round.json");
  // Enough training steps that the kill lands while the engine is training.
  await writeFile(configPath, JSON.stringify(tinyRoundConfig({ dpo: { epochs: 12 } })));
  clinicianKeyId = (await createApiKey(database.db, { name: "Dr. Lind", role: "clinician" })).key.id;
  await logCorrectedTraffic(corpus.slice(0, 24), new Date(Date.now() - 60_000));
  const { ggufPath, hfDir } = testModels();
  const registered = spawnMedgate([
    "models",
    "register",
    "--name",
    "tiny",
    "--gguf",
    ggufPath,
    "--hf-dir",
    hfDir,
    "--champion",
    "--database-url",
    database.url!,
  ]);
  const { code, stderr } = await registered.output;
  expect(code, stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await database?.[Symbol.asyncDispose]();
});

const engineProcesses = () => processesMatching(workDir);

describe("round run killed and resumed", () => {
  it("resumes at the step it was killed in and completes with no duplicated rows", async () => {
    const first = spawnMedgate(["round", "run", "--model", "tiny", ...databaseArgs()]);
    // Wait until the engine has reported a few training steps, then kill the trainer outright.
    const deadline = Date.now() + 240_000;
    for (;;) {
      const [row] = await database.db.select().from(rounds);
      const [{ steps }] = (await database.db.select({ steps: count() }).from(roundMetrics)) as [
        { steps: number },
      ];
      if (row?.state === "training" && steps >= 2) break;
      if (row && ["failed", "evaluating", "promoted", "rejected"].includes(row.state))
        throw new Error(`round reached ${row.state} before the kill`);
      if (Date.now() > deadline) throw new Error("training never started");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    first.kill("SIGKILL");
    await first.output;
    // The engine does not outlive the trainer.
    for (let i = 0; i < 50 && engineProcesses().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(engineProcesses()).toEqual([]);
    const [killedAt] = await database.db.select().from(rounds);
    expect(killedAt!.state).toBe("training");

    const second = spawnMedgate(["round", "run", "--model", "tiny", ...databaseArgs()]);
    const { code, stdout, stderr } = await second.output;
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("resuming round tiny#1 at training");
    const roundId = stdout.trim();
    expect(roundId).toBe(killedAt!.id);

    const all = await database.db.select().from(rounds);
    expect(all).toHaveLength(1);
    expect(all[0]!.state).toBe("promoted");
    const prompts = await roundPromptsOf(database.db, roundId);
    expect(prompts).toHaveLength(24);
    const candidates = await roundCandidatesOf(database.db, roundId);
    // Per prompt: 2 samples, the logged answer and its correction.
    expect(candidates).toHaveLength(24 * 4);
    expect(await roundPairsOf(database.db, roundId)).toHaveLength(24);
    const metrics = await roundMetricsOf(database.db, roundId);
    expect(new Set(metrics.map((row) => row.step)).size).toBe(metrics.length);
    expect(metrics.at(-1)!.step).toBe(metrics.length);
    const versions = await database.db.select().from(modelVersions).where(eq(modelVersions.roundId, roundId));
    expect(versions).toHaveLength(1);

    const shown = await spawnMedgate(["rounds", "show", "tiny#1", "--database-url", database.url!]).output;
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`round tiny#1 (${roundId}): promoted`);
    expect(shown.stdout).toContain(`metrics (${metrics.length} steps)`);
    expect(shown.stdout).toContain("pairs (24)");
    const listed = await spawnMedgate(["rounds", "list", "--database-url", database.url!]).output;
    expect(listed.stdout).toContain(roundId);
  }, 600_000);

  it("fails the training step with the engine's stderr when the engine crashes, and keeps the champion", async () => {
    await logCorrectedTraffic(corpus.slice(24, 32), new Date());
    const broken = join(workDir, "broken.json");
    await writeFile(
      broken,
      JSON.stringify(
        tinyRoundConfig({ dpo: { lora: { r: 4, alpha: 8, dropout: 0, targetModules: ["no_such_proj"] } } }),
      ),
    );
    const run = spawnMedgate([
      "round",
      "run",
      "--model",
      "tiny",
      "--database-url",
      database.url!,
      "--work-dir",
      workDir,
      "--round-config",
      broken,
    ]);
    const { code, stderr } = await run.output;
    expect(code).toBe(1);
    const [failed] = await database.db.select().from(rounds).where(eq(rounds.number, 2));
    expect(failed).toMatchObject({ state: "failed" });
    expect(failed!.error).toMatch(/^training: /u);
    expect(failed!.errorDetail).toContain("no_such_proj");
    expect(stderr).toContain("failed");
    // Round 1 promoted version 2; the failed round left it serving.
    const champion = await findChampion(database.db, "tiny");
    expect(champion!.version).toBe(2);
  }, 300_000);

  it("runs rounds as a service once enough new prompts arrive, and stops on SIGTERM", async () => {
    await logCorrectedTraffic(corpus.slice(32, 40), new Date());
    const trainer = spawnMedgate([
      "trainer",
      "--model",
      "tiny",
      "--min-new-prompts",
      "8",
      "--poll",
      "1s",
      ...databaseArgs(),
    ]);
    const deadline = Date.now() + 240_000;
    for (;;) {
      const [third] = await database.db.select().from(rounds).where(eq(rounds.number, 3));
      if (third?.state === "promoted" || third?.state === "rejected") break;
      if (third?.state === "failed") throw new Error(`round 3 failed: ${third.error}`);
      if (Date.now() > deadline) throw new Error("the trainer never finished a round");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Nothing new since round 3: the next polls start nothing.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    trainer.kill("SIGTERM");
    const { code, stderr } = await trainer.output;
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("round tiny#3 started with 8 new prompt(s)");
    expect(stderr).toContain("trainer stopped");
    expect(await database.db.select().from(rounds)).toHaveLength(3);
  }, 300_000);

  it("rejects the candidate, audited, when its gate cannot run, and keeps the champion", async () => {
    const before = (await findChampion(database.db, "tiny"))!;
    await logCorrectedTraffic(corpus.slice(40, 48), new Date());
    const config = join(workDir, "missing-suite.json");
    await writeFile(
      config,
      JSON.stringify(tinyRoundConfig({ gate: { suite: join(workDir, "no-suite.json") } })),
    );
    const run = spawnMedgate([
      "round",
      "run",
      "--model",
      "tiny",
      ...databaseArgs(),
      "--round-config",
      config,
    ]);
    const { code } = await run.output;
    expect(code).toBe(1);
    const [failed] = await database.db.select().from(rounds).where(eq(rounds.number, 4));
    expect(failed).toMatchObject({ state: "failed" });
    expect(failed!.error).toMatch(/^evaluating: .*no-suite\.json/u);
    const [candidate] = await database.db
      .select()
      .from(modelVersions)
      .where(eq(modelVersions.id, failed!.candidateVersionId!));
    expect(candidate!.status).toBe("rejected");
    const [audit] = await championChangesOf(database.db, "tiny", 1);
    expect(audit).toMatchObject({ kind: "reject", toVersionId: candidate!.id, roundId: failed!.id });
    expect(audit!.reason).toMatch(/^the gate could not run: evaluating: /u);
    expect((await findChampion(database.db, "tiny"))!.id).toBe(before.id);
  }, 300_000);
});
