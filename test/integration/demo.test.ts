// `medgate demo` as a user runs it, on the tiny model: the command serves, sends traffic and feedback, runs a
// round through the gate and the promotion, and the embedded database it leaves shows every step.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { championChangesOf } from "../../db/championChanges.ts";
import { createDatabase } from "../../db/createDatabase.ts";
import { findChampion, listModelVersions } from "../../db/modelVersions.ts";
import { listRounds } from "../../db/rounds.ts";
import { completions, feedback } from "../../db/schema.ts";
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
      "--exit",
    ]);
    expect(code, stderr).toBe(0);
    for (const step of ["registry", "serve", "traffic", "feedback", "round", "gate", "swap", "answers"])
      expect(stderr).toMatch(new RegExp(`^${step} `, "mu"));
    expect(stderr).toContain("passed: v2 promoted to champion");
    expect(stderr).toMatch(/the gateway now answers with v2/u);
    // What the round changed in the answers to the probe set, which the demo never sends as traffic.
    expect(stderr).toMatch(/advises seeing a clinician: v1 \d+\/36 → v2 \d+\/36/u);
    expect(stderr).toMatch(/the clinicians' sentence word for word: v1 \d+\/36 → v2 \d+\/36/u);
    expect(stderr).toMatch(/repetitive answers: v1 \d+ → v2 \d+/u);
    const url = stdout.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/u);
    for (const page of ["/v1", "/review", "/admin"]) expect(stderr).toContain(url.replace(/\/v1$/u, page));
    expect(stderr).toMatch(/admin key: +mg-/u);

    // What the demo left in its embedded database: the traffic, the feedback, the round and the audit trail.
    const database = await createDatabase({ dataDir: join(dataDir, "db") });
    try {
      const db = database.db;
      const [round] = await listRounds(db, "tiny");
      expect(round!.state).toBe("promoted");
      const champion = (await findChampion(db, "tiny"))!;
      expect(champion.version).toBe(2);
      expect(champion.id).toBe(round!.candidateVersionId);
      expect((await listModelVersions(db, "tiny")).map((version) => version.status).sort()).toEqual([
        "champion",
        "retired",
      ]);
      const changes = await championChangesOf(db, "tiny");
      expect(changes.map((change) => change.kind)).toEqual(["promote", "register"]);
      expect(changes[0]!.gateReport).toMatchObject({ passed: true });
      const logged = await db.select().from(completions);
      // 60 questions, 4 of them asked twice, and one answer after the swap, logged under the new version.
      expect(logged).toHaveLength(65);
      expect(logged.filter((row) => row.modelVersionId === champion.id)).toHaveLength(1);
      expect((await db.select().from(feedback)).length).toBeGreaterThanOrEqual(20);
    } finally {
      await database[Symbol.asyncDispose]();
    }
  }, 600_000);
});
