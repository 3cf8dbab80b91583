// `medgate demo` as a user runs it, on the tiny model: the command serves, sends traffic and feedback, runs a
// round through the gate and its canary (the simulated clinician judging blind pairs on the review page), and the
// embedded database it leaves shows every step, the canary's decision and its audit.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, inArray, isNotNull, isNull } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { championChangesOf } from "../../db/championChanges.ts";
import { createDatabase } from "../../db/createDatabase.ts";
import { findChampion, listModelVersions } from "../../db/modelVersions.ts";
import { listRounds } from "../../db/rounds.ts";
import { auditEvents, canaries, canaryPairs, completions, feedback } from "../../db/schema.ts";
import { testModels } from "../support/fixtures.ts";

const bin = new URL("../../bin/medgate.js", import.meta.url).pathname;
let scratch: string | undefined;

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("medgate demo", () => {
  it("runs the loop end to end on the embedded database and prints where to look", async () => {
    const { ggufPath, hfDir } = testModels();
    scratch = await mkdtemp(join(tmpdir(), "medgate-demo-"));
    const dataDir = join(scratch, "demo");
    const { code, stdout, stderr } = await run([
      "demo",
      "--model",
      ggufPath,
      "--model-name",
      "tiny",
      "--hf-dir",
      hfDir,
      "--preset",
      "tiny",
      "--prompts",
      "60",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--canary",
      // The engine as `npm start` chooses it, llama-server where the tests' build made one; never a build here.
      "--llama-server-build",
      "off",
      "--exit",
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(
      /^engine +chat on (llama-server \(binary .*; --engine auto\)|the in-process engine)/mu,
    );
    for (const step of ["registry", "serve", "traffic", "feedback", "round", "gate", "canary"])
      expect(stderr).toMatch(new RegExp(`^${step} `, "mu"));
    expect(stderr).toContain("passed: v2 goes to a canary before it may replace v1");
    // The canary's decision, printed: promoted or not, as the clinician's blind verdicts said.
    const decided = /^canary +(promoted|rejected) after \d+ s \(audited\): (\d+) verdicts/mu.exec(stderr);
    expect(decided, stderr).not.toBeNull();
    const promoted = decided![1] === "promoted";
    // What the round changed in the answers to the probe set, which the demo never sends as traffic: shown once the
    // gate passed, whatever the canary then decided.
    expect(stderr).toMatch(/^answers /mu);
    expect(stderr).toMatch(/advises seeing a clinician: v1 \d+\/36 → v2 \d+\/36/u);
    expect(stderr).toMatch(/the clinicians' sentence word for word: v1 \d+\/36 → v2 \d+\/36/u);
    expect(stderr).toMatch(/repetitive answers: v1 \d+ → v2 \d+/u);
    if (promoted) {
      expect(stderr).toContain("v2 is the champion: the clinician preferred it on live questions");
      expect(stderr).toMatch(/^swap /mu);
      expect(stderr).toMatch(/the gateway now answers with v2/u);
    } else {
      expect(stderr).toContain("v2 is not promoted: v1 keeps serving everyone");
      expect(stderr).not.toMatch(/^swap /mu);
    }
    const url = stdout.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/u);
    for (const page of ["/v1", "/review", "/admin"]) expect(stderr).toContain(url.replace(/\/v1$/u, page));
    expect(stderr).toMatch(/admin key: +mg-/u);

    // What the demo left in its embedded database: the traffic, the feedback, the round and the audit trail.
    const database = await createDatabase({ dataDir: join(dataDir, "db") });
    try {
      const db = database.db;
      const [round] = await listRounds(db, "tiny");
      expect(round!.state).toBe(promoted ? "promoted" : "rejected");
      const champion = (await findChampion(db, "tiny"))!;
      expect(champion.version).toBe(promoted ? 2 : 1);
      if (promoted) expect(champion.id).toBe(round!.candidateVersionId);
      expect((await listModelVersions(db, "tiny")).map((version) => version.status).sort()).toEqual(
        promoted ? ["champion", "retired"] : ["champion", "rejected"],
      );
      const changes = await championChangesOf(db, "tiny");
      expect(changes.map((change) => change.kind)).toEqual(
        promoted ? ["promote", "register"] : ["reject", "register"],
      );
      if (promoted) expect(changes[0]!.gateReport).toMatchObject({ passed: true });

      // The canary: shadow mode, decided by the trainer's look on the clinician's verdicts, audited.
      const [canary, ...others] = await db.select().from(canaries);
      expect(others).toHaveLength(0);
      expect(canary).toMatchObject({
        roundId: round!.id,
        mode: "shadow",
        state: promoted ? "promoted" : "rejected",
        candidateVersionId: round!.candidateVersionId,
      });
      expect(canary!.decidedBy).toBe(`trainer (round tiny#${round!.number})`);
      expect(canary!.evidence!.comparisons).toBe(Number(decided![2]));
      expect(canary!.evidence!.comparisons).toBeGreaterThan(0);
      expect(round!.stats).toMatchObject({ canary: { id: canary!.id, state: canary!.state } });
      const audit = await db.select().from(auditEvents);
      const started = audit.filter((row) => row.action === "canary start");
      const ended = audit.filter((row) => row.action === (promoted ? "canary promote" : "canary reject"));
      expect(started.map((row) => row.query.canaryId)).toEqual([canary!.id]);
      expect(ended.map((row) => row.query.canaryId)).toEqual([canary!.id]);
      expect(ended[0]!.query.pairIds).toEqual(canary!.evidence!.pairIds);
      // The clinician's verdicts are preferences on the blind pairs, posted through the API.
      const pairs = await db.select().from(canaryPairs).where(eq(canaryPairs.canaryId, canary!.id));
      const verdicts = await db
        .select()
        .from(feedback)
        .where(
          inArray(
            feedback.completionId,
            pairs.flatMap((pair) => [pair.championCompletionId, pair.candidateCompletionId]),
          ),
        );
      expect(verdicts.length).toBeGreaterThanOrEqual(canary!.evidence!.comparisons);
      for (const verdict of verdicts) expect(verdict.kind).toBe("preference");
      // The candidate's answers were shadows: each tied to a live answer, none returned to the app.
      const shadows = await db.select().from(completions).where(isNotNull(completions.shadowOf));
      expect(shadows.length).toBeGreaterThanOrEqual(pairs.length);
      for (const row of shadows) expect(row.modelVersionId).toBe(canary!.candidateVersionId);

      // 60 questions, 4 of them asked twice, and, after a promotion, one answer after the swap, logged under the
      // new version; besides them, the canary's live questions and their shadows.
      const beforeCanary = await db.select().from(completions).where(isNull(completions.canaryId));
      expect(beforeCanary).toHaveLength(promoted ? 65 : 64);
      if (promoted) expect(beforeCanary.filter((row) => row.modelVersionId === champion.id)).toHaveLength(1);
      expect((await db.select().from(feedback)).length).toBeGreaterThanOrEqual(20);
    } finally {
      await database[Symbol.asyncDispose]();
    }
  }, 600_000);
});
