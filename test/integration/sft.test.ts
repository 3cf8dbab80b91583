import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { findModelVersion } from "../../db/modelVersions.ts";
import { roundMetricsOf, roundPairsOf, roundPromptsOf } from "../../db/rounds.ts";
import { type RoundRow, rounds } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import type { RoundConfigInput } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { registerTinyChampion, testModels } from "../support/fixtures.ts";
import { processesMatching, spawnMedgate } from "../support/medgateCli.ts";
import { logAnswer } from "../support/roundTraffic.ts";
import { startGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const ADVICE = " Please consult a clinician.";
const corpus = medicalQa();

let database: TestDatabase;
let workDir: string;
let tuned: RoundRow;
let dpoOnly: RoundRow;

const config = (sft: boolean): RoundConfigInput =>
  tinyRoundConfig({
    heldoutFraction: 0.3,
    minHeldout: 6,
    sft: { enabled: sft, epochs: 6 },
    gate: { limit: 5 },
  });

/** 30 logged answers for `model`, each corrected by a clinician with the advice to consult. */
async function logCorrectedTraffic(model: string, clinicianKeyId: string): Promise<void> {
  const at = Date.now() - 60_000;
  for (const [i, item] of corpus.slice(0, 30).entries()) {
    await logAnswer(database.db, {
      id: `chatcmpl-${model}-${i}`,
      model,
      question: item.q,
      text: item.a,
      at: new Date(at + i),
      correction: { text: `${item.a}${ADVICE}`, clinicianKeyId },
    });
  }
}

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-sft-"));
  const { key } = await createApiKey(database.db, { name: "Dr. Okafor", role: "clinician" });
  for (const model of ["tiny-sft", "tiny-dpo"]) {
    await registerTinyChampion(database.db, model, "sft.test");
    await logCorrectedTraffic(model, key.id);
  }
  const configPath = join(workDir, "round-sft.json");
  await writeFile(configPath, JSON.stringify(config(true)));
  const args = [
    "round",
    "run",
    "--model",
    "tiny-sft",
    "--round-config",
    configPath,
    "--database-url",
    database.url!,
    "--work-dir",
    join(workDir, "rounds"),
  ];
  // `medgate round run` killed with SIGKILL while the SFT engine trains, then run again.
  const first = spawnMedgate(args);
  const deadline = Date.now() + 240_000;
  for (;;) {
    const [row] = await database.db.select().from(rounds);
    if (row?.state === "tuning" && processesMatching(`sft.py ${join(workDir, "rounds")}`).length > 0) break;
    if (row && !["collecting", "sampling", "judging", "tuning"].includes(row.state))
      throw new Error(`round reached ${row.state} before the kill: ${row.error}`);
    if (Date.now() > deadline) throw new Error("tuning never started");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  first.kill("SIGKILL");
  await first.output;
  const [killed] = await database.db.select().from(rounds);
  expect(killed!.state).toBe("tuning");
  // The engine does not outlive the trainer.
  const gone = Date.now() + 10_000;
  while (processesMatching(`sft.py ${join(workDir, "rounds")}`).length > 0 && Date.now() < gone)
    await new Promise((resolve) => setTimeout(resolve, 100));
  expect(processesMatching(`sft.py ${join(workDir, "rounds")}`)).toEqual([]);
  const second = await spawnMedgate(args).output;
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toContain("resuming round tiny-sft#1 at tuning");
  tuned = (await database.db.select().from(rounds).where(eq(rounds.modelName, "tiny-sft")))[0]!;

  const created = await createRoundFor(database.db, {
    modelName: "tiny-dpo",
    config: config(false),
    createdBy: "sft.test",
  });
  dpoOnly = await driveRound(created.id, { database, workDir: join(workDir, "rounds") });
}, 900_000);

afterAll(async () => {
  await database?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("the tuning step", () => {
  it("resumed after SIGKILL, completed, stored its loss curve, and DPO started from its checkpoint", async () => {
    expect(tuned.error).toBeNull();
    expect(["promoted", "rejected"]).toContain(tuned.state);
    const { curve, checkpointDir } = tuned.stats.tuned!;
    expect(curve.length).toBeGreaterThanOrEqual(3);
    expect(curve.map((point) => point.step)).toEqual(curve.map((_, i) => i + 1));
    expect(existsSync(join(checkpointDir, "config.json"))).toBe(true);
    expect(tuned.stats.seconds!.tuning).toBeGreaterThan(0);
    const dpoConfig = JSON.parse(
      await readFile(join(checkpointDir, "..", "..", "train", "dpo-config.json"), "utf8"),
    ) as { model_dir: string };
    expect(dpoConfig.model_dir).toBe(checkpointDir);
    // Every row once: one round, its prompts and pairs, DPO's metrics per step.
    expect(await database.db.select().from(rounds)).toHaveLength(2);
    expect(await roundPromptsOf(database.db, tuned.id)).toHaveLength(30);
    const metrics = await roundMetricsOf(database.db, tuned.id);
    expect(new Set(metrics.map((row) => row.step)).size).toBe(metrics.length);
    expect(dpoOnly.stats.tuned).toBeUndefined();
    expect(["promoted", "rejected"]).toContain(dpoOnly.state);
  });

  it("draws the SFT loss curve on the admin dashboard", async () => {
    await using gateway = await startGateway(
      { modelPath: testModels().ggufPath, contextSize: 512 },
      { databaseUrl: database.url },
    );
    const response = await fetch(`${gateway.url}/admin`, {
      headers: { cookie: `medgate_admin=${gateway.apiKey}` },
    });
    expect(response.status).toBe(200);
    const html = await response.text();
    const card = html.slice(html.indexOf(`data-round-id="${tuned.id}"`));
    expect(card).toMatch(/aria-label="SFT loss on clinician corrections"[\s\S]*?<polyline/u);
    expect(html.match(/aria-label="SFT loss on clinician corrections"/gu)).toHaveLength(1);
  });

  it("raises the log-likelihood of the held-out corrected answers over the champion's, more than DPO alone", async () => {
    const heldout = (await roundPairsOf(database.db, tuned.id)).filter((pair) => pair.split === "heldout");
    expect(heldout.length).toBeGreaterThanOrEqual(6);
    const prompts = new Map((await roundPromptsOf(database.db, tuned.id)).map((row) => [row.id, row]));
    const load = async (versionId: string) => {
      const version = (await findModelVersion(database.db, versionId))!;
      return InferenceEngine.load({
        modelPath: version.ggufPath,
        modelName: `${version.name}@v${version.version}`,
        threads: 1,
        gpu: false,
        kvCache: "f32",
        contextSize: 1024,
      });
    };
    await using champion = await load(tuned.baseVersionId);
    await using withSft = await load(tuned.candidateVersionId!);
    await using withoutSft = await load(dpoOnly.candidateVersionId!);
    const mean = async (engine: InferenceEngine) => {
      let sum = 0;
      for (const pair of heldout) {
        const messages = prompts.get(pair.promptId)!.messages as ChatMessage[];
        const [score] = await engine.scoreAnswers(messages, [pair.chosen]);
        sum += score!.logprob;
      }
      return sum / heldout.length;
    };
    const [base, sft, dpo] = [await mean(champion), await mean(withSft), await mean(withoutSft)];
    console.info(
      `held-out corrected answers (${heldout.length}), mean log-likelihood: champion ${base.toFixed(3)}, SFT→DPO ${sft.toFixed(3)} (gain ${(sft - base).toFixed(3)} nats), DPO only ${dpo.toFixed(3)} (gain ${(dpo - base).toFixed(3)} nats)`,
    );
    expect(sft).toBeGreaterThan(base);
    expect(sft - base).toBeGreaterThan(dpo - base);
  });
});
