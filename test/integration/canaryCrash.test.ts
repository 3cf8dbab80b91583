// A `medgate serve` killed with SIGKILL mid-canary: the canary lives in PostgreSQL, so the restarted gateway routes the
// canary's share to the candidate again, and the answers of both runs pair into one canary's evidence.
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { canariesOf, startCanary } from "../../db/canaries.ts";
import { makeChampion } from "../../db/championChanges.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { type CanaryRow, completions, type ModelVersionRow } from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { canaryRuleOf } from "../../trainer/canary/canaryDecision.ts";
import { checkCanary } from "../../trainer/canary/checkCanary.ts";
import { canaryConfigSchema } from "../../trainer/roundConfig.ts";
import { testModels } from "../support/fixtures.ts";
import { type ServedMedgate, serveMedgate } from "../support/medgateCli.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

let database: TestDatabase;
let apiKey: string;
let champion: ModelVersionRow;
let candidate: ModelVersionRow;
let canary: CanaryRow;
const children: ServedMedgate[] = [];

async function serve(): Promise<ServedMedgate> {
  const served = await serveMedgate(
    [
      ...["--model", testModels().ggufPath, "--model-name", "tiny", "--port", "0"],
      ...["--threads", "1", "--gpu", "cpu", "--parallel", "2"],
    ],
    { ...process.env, DATABASE_URL: database.url ?? "" },
  );
  children.push(served);
  return served;
}

/** Asks one prompt until both versions answered it; returns the versions of the rows, read from the database. */
async function bothVersionsAnswer(url: string, content: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const deadline = Date.now() + 120_000;
  while (seen.size < 2 && Date.now() < deadline) {
    const response = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content }], max_tokens: 4 }),
    });
    if (response.status !== 200) {
      // Still loading the champion or the candidate.
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    const { id } = (await response.json()) as { id: string };
    const [row] = await database.db.select().from(completions).where(eq(completions.id, id));
    if (row?.canaryId === canary.id) seen.add(row.modelVersionId!);
  }
  return seen;
}

beforeAll(async () => {
  const { ggufPath } = testModels();
  database = await createTestDatabase("postgres");
  ({ secret: apiKey } = await createApiKey(database.db, { name: "crash", role: "admin" }));
  const sha = await sha256OfFile(ggufPath);
  champion = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath,
    ggufSha256: sha,
    status: "candidate",
  });
  await makeChampion(database.db, champion.id, { kind: "register", actor: "crash test", reason: "first" });
  const copy = join(await mkdtemp(join(tmpdir(), "medgate-canary-crash-")), "tiny-v2.gguf");
  await copyFile(ggufPath, copy);
  candidate = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath: copy,
    ggufSha256: sha,
    status: "evaluating",
    parentId: champion.id,
  });
  canary = await startCanary(database.db, {
    modelName: "tiny",
    roundId: null,
    championVersionId: champion.id,
    candidateVersionId: candidate.id,
    mode: "split",
    share: 0.5,
    rule: canaryRuleOf(canaryConfigSchema.parse({ maxComparisons: 20, maxDuration: "1h" })),
    actor: "crash test",
  });
}, 120_000);

afterAll(async () => {
  for (const served of children) served.child.kill("SIGKILL");
  await database?.[Symbol.asyncDispose]();
});

describe("a gateway killed mid-canary", () => {
  it("picks the canary up again on restart, and both runs' answers feed the one canary", async () => {
    const first = await serve();
    const versions = [champion.id, candidate.id].sort();
    expect([...(await bothVersionsAnswer(first.url, "Before the crash: a cough?"))].sort()).toEqual(versions);
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));

    const second = await serve();
    expect([...(await bothVersionsAnswer(second.url, "After the crash: a cough?"))].sort()).toEqual(versions);
    second.child.kill("SIGTERM");
    await new Promise((resolve) => second.child.once("exit", resolve));

    const running = (await canariesOf(database.db, "tiny")).filter((row) => row.state === "running");
    expect(running.map((row) => row.id)).toEqual([canary.id]);
    const look = await checkCanary(database.db, canary.id, { actor: "crash test" });
    expect(look.pairs).toBe(2);
    expect(look.decision).toBe("continue");
  }, 300_000);
});
