// A split canary on a live gateway: the candidate answers its share of the requests (rows carry its version and the
// canary), the canary's answers to the same prompt are paired blind, a clinician judges the pairs on the review page's
// compare view and through POST /v1/feedback, and the rule ends the canary: a promotion the gateway hot-swaps to, and
// a rejection after which the champion answers everything. A second gateway started mid-canary picks the canary up.
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq, isNotNull } from "drizzle-orm";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { canaryPairsOf, findCanary, pairCanaryAnswers, startCanary } from "../../db/canaries.ts";
import { makeChampion } from "../../db/championChanges.ts";
import { findModelVersion, registerModelVersion } from "../../db/modelVersions.ts";
import { createRound, findRound } from "../../db/rounds.ts";
import {
  auditEvents,
  type CanaryRow,
  type CanaryRule,
  championChanges,
  completions,
  type ModelVersionRow,
  rounds,
} from "../../db/schema.ts";
import { modelLoader, NameServing } from "../../gateway/models/NameServing.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { canaryRuleOf } from "../../trainer/canary/canaryDecision.ts";
import { checkCanary } from "../../trainer/canary/checkCanary.ts";
import { driveRound } from "../../trainer/RoundRunner.ts";
import { canaryConfigSchema } from "../../trainer/roundConfig.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { testModels } from "../support/fixtures.ts";
import { spawnMedgate } from "../support/medgateCli.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const engineOptions = { threads: 1, gpu: false as const, parallel: 4, contextSize: 512, maxQueue: 128 };
// The defaults, with a short run: 20 verdicts or an hour.
const rule: CanaryRule = canaryRuleOf(canaryConfigSchema.parse({ maxComparisons: 20, maxDuration: "1h" }));

let database: TestDatabase;
let gateway: TestGateway;
let serving: NameServing;
let clinicianKey: string;
let browser: Browser | undefined;
const versions: ModelVersionRow[] = [];
const log: string[] = [];

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${log.join(" | ")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const watch = (models: TestGateway["models"]) =>
  NameServing.start({
    database,
    models,
    name: "tiny",
    given: { path: testModels().ggufPath, registeredBy: "canary.test" },
    // Polling so rarely that only a notification can explain a quick change.
    pollMs: 600_000,
    load: modelLoader({ kind: "node-llama-cpp" }, "tiny", engineOptions),
    log: (message) => log.push(message),
  });

beforeAll(async () => {
  const { ggufPath } = testModels();
  database = await createTestDatabase("postgres");
  gateway = await startGateway({ modelPath: ggufPath, ...engineOptions }, { databaseUrl: database.url });
  const dir = await mkdtemp(join(tmpdir(), "medgate-canary-"));
  const sha = await sha256OfFile(ggufPath);
  // Versions 2 and 3 are copies of the same weights: which answer is better is the clinician's to say.
  for (const version of [1, 2, 3, 4, 5, 6, 7]) {
    const path = version === 1 ? ggufPath : join(dir, `tiny-v${version}.gguf`);
    if (version > 1) await copyFile(ggufPath, path);
    versions.push(
      await registerModelVersion(database.db, {
        name: "tiny",
        ggufPath: path,
        ggufSha256: sha,
        status: version === 1 ? "candidate" : "evaluating",
        parentId: versions.at(-1)?.id ?? null,
      }),
    );
  }
  await makeChampion(database.db, versions[0]!.id, {
    kind: "register",
    actor: "canary.test",
    reason: "first champion",
  });
  ({ secret: clinicianKey } = await createApiKey(database.db, { name: "dr-canary", role: "clinician" }));
  serving = await watch(gateway.models);
  expect(gateway.models.get("tiny")!.versionId).toBe(versions[0]!.id);
  if (chromiumPath) browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await serving?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
});

/** A round of `tiny` standing in `canary`, as the gate leaves one whose config has a canary section. */
async function roundInCanary(candidate: ModelVersionRow): Promise<string> {
  const round = await createRound(database.db, {
    modelName: "tiny",
    baseVersionId: candidate.parentId!,
    config: {},
    since: null,
    until: new Date(),
    createdBy: "canary.test",
  });
  await database.db
    .update(rounds)
    .set({ state: "canary", candidateVersionId: candidate.id })
    .where(eq(rounds.id, round.id));
  return round.id;
}

async function start(
  candidate: ModelVersionRow,
  champion: ModelVersionRow,
  mode: "split" | "shadow" = "split",
  judgesPerPair = 1,
): Promise<CanaryRow> {
  const canary = await startCanary(database.db, {
    modelName: "tiny",
    roundId: await roundInCanary(candidate),
    championVersionId: champion.id,
    candidateVersionId: candidate.id,
    mode,
    share: mode === "split" ? 0.5 : 1,
    rule: { ...rule, judgesPerPair },
    actor: "canary.test",
  });
  await waitFor(() => gateway.models.get("tiny")!.canary?.id === canary.id, "the gateway to load the canary");
  return canary;
}

/** Asks each prompt until both versions have answered it under the canary; returns the rows' versions seen. */
async function traffic(canary: CanaryRow, prompts: number): Promise<void> {
  for (let prompt = 0; prompt < prompts; prompt++) {
    const content = `Canary ${canary.id.slice(0, 8)} question ${prompt}: what helps a sore throat?`;
    const seen = new Set<string>();
    for (let attempt = 0; attempt < 30 && seen.size < 2; attempt++) {
      const answer = await gateway.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content }],
        max_tokens: 8,
      });
      await gateway.completionLog.flush();
      const [row] = await database.db.select().from(completions).where(eq(completions.id, answer.id));
      expect(row!.canaryId).toBe(canary.id);
      seen.add(row!.modelVersionId!);
    }
    expect([...seen].sort()).toEqual([canary.championVersionId, canary.candidateVersionId].sort());
  }
}

/**
 * The clinician takes the compare view's pairs one at a time and prefers the answer `prefer` gave (the page shows
 * no version: the test reads which side is the candidate from the database, standing in for a clinician who can
 * tell better answers), through POST /v1/feedback; the trainer's look follows each verdict.
 */
async function judge(canary: CanaryRow, prefer: "candidate" | "champion") {
  let look = await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
  for (let verdicts = 0; !look.ended && verdicts < 20; verdicts++) {
    const page = await fetch(`${gateway.url}/review/compare`, {
      headers: { cookie: `medgate_review=${clinicianKey}` },
    });
    const html = await page.text();
    expect(page.status).toBe(200);
    const shown = [...html.matchAll(/data-completion-id="([^"]+)"/gu)].map((match) => match[1]!);
    expect(shown).toHaveLength(2);
    expect(html).not.toContain(canary.candidateVersionId);
    const pair = (await canaryPairsOf(database.db, canary.id)).find(
      (row) => row.championCompletionId === shown[0] || row.candidateCompletionId === shown[0],
    );
    expect(pair, "the compare view shows the canary's pairs first").toBeDefined();
    expect(shown[pair!.candidateSide === "a" ? 0 : 1]).toBe(pair!.candidateCompletionId);
    const preferred = prefer === "candidate" ? pair!.candidateCompletionId : pair!.championCompletionId;
    const response = await fetch(`${gateway.url}/v1/feedback`, {
      method: "POST",
      headers: { authorization: `Bearer ${clinicianKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        type: "preference",
        completion_id: shown[0],
        other_completion_id: shown[1],
        preference: shown[0] === preferred ? "a" : "b",
      }),
    });
    expect(response.status).toBe(201);
    look = await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
  }
  return look;
}

/**
 * As `judge`, in Chromium: the clinician signs in to the review page, and on the compare view presses a or b (the
 * page's keys) for the answer `prefer` gave.
 */
async function judgeInBrowser(canary: CanaryRow, prefer: "candidate" | "champion") {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(10_000);
  try {
    await page.goto(`${gateway.url}/review/login`);
    await page.fill("input[name=key]", clinicianKey);
    await page.click("button[type=submit]");
    await page.waitForURL(`${gateway.url}/review`);
    let look = await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
    await page.goto(`${gateway.url}/review/compare`);
    for (let verdicts = 0; !look.ended && verdicts < 20; verdicts++) {
      const shown = await page
        .locator(".pair section")
        .evaluateAll((sections) => sections.map((section) => section.getAttribute("data-completion-id")!));
      expect(shown).toHaveLength(2);
      expect(await page.content()).not.toContain(canary.candidateVersionId);
      const pair = (await canaryPairsOf(database.db, canary.id)).find((row) =>
        [row.championCompletionId, row.candidateCompletionId].includes(shown[0]!),
      );
      expect(pair, "the compare view shows the canary's pairs first").toBeDefined();
      const preferred = prefer === "candidate" ? pair!.candidateCompletionId : pair!.championCompletionId;
      // The verdict is posted, and the page redirected to the compare view's next pair: wait for that document's
      // load event, so that the next look at the page is not cut short by the navigation.
      await Promise.all([page.waitForEvent("load"), page.keyboard.press(shown[0] === preferred ? "a" : "b")]);
      look = await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
    }
    return look;
  } finally {
    await page.close();
  }
}

describe("a split canary", () => {
  it("promotes a candidate the clinician prefers, audited, and the gateway serves it to everyone", async () => {
    const [champion, candidate] = [versions[0]!, versions[1]!];
    const canary = await start(candidate, champion);
    await traffic(canary, 12);
    const look = await judge(canary, "candidate");
    expect(look.ended).toBe(true);
    expect(look.decision).toBe("promote");
    expect(look.evidence.comparisons).toBe(10);
    expect(look.evidence.lower).toBeGreaterThan(0.5);

    const ended = (await findCanary(database.db, canary.id))!;
    expect(ended.state).toBe("promoted");
    expect(ended.evidence!.pairIds).toHaveLength(10);
    expect((await findModelVersion(database.db, candidate.id))!.status).toBe("champion");
    expect((await findRound(database.db, canary.roundId!))!.state).toBe("promoted");
    const [change] = await database.db
      .select()
      .from(championChanges)
      .where(and(eq(championChanges.toVersionId, candidate.id), eq(championChanges.kind, "promote")));
    expect(change!.reason).toMatch(/canary promoted/u);
    const audit = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "canary promote"));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.query.pairIds).toEqual(ended.evidence!.pairIds);

    await waitFor(() => gateway.models.get("tiny")!.versionId === candidate.id, "the swap to the candidate");
    expect(gateway.models.get("tiny")!.canary).toBeUndefined();
    const after = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "After the canary: a headache?" }],
      max_tokens: 4,
    });
    await gateway.completionLog.flush();
    const [row] = await database.db.select().from(completions).where(eq(completions.id, after.id));
    expect(row!.modelVersionId).toBe(candidate.id);
    expect(row!.canaryId).toBeNull();

    // The dashboard's canary panel: the decision, its evidence and the win rate's interval after each verdict.
    const dashboard = await fetch(`${gateway.url}/admin`, {
      headers: { cookie: `medgate_admin=${gateway.apiKey}` },
    });
    expect(dashboard.status).toBe(200);
    const html = await dashboard.text();
    const panel = html.slice(html.indexOf(`data-canary-id="${canary.id}"`));
    expect(panel).toContain("tiny: canary promoted");
    expect(panel).toMatch(/10 verdicts \(10 won, 0 tied, 0 lost\)/u);
    expect(panel).toContain("Win rate against the champion after each verdict");
    expect(panel.indexOf("<svg")).toBeGreaterThan(0);
  }, 600_000);

  it(`rejects a candidate the clinician finds worse on the review page; a gateway started mid-canary follows it too${browserNote}`, async () => {
    const [champion, candidate] = [versions[1]!, versions[2]!];
    const canary = await start(candidate, champion);
    // A second gateway on the same database, started mid-canary, routes its share to the candidate as well.
    const second = await startGateway(
      { modelPath: testModels().ggufPath, ...engineOptions },
      { databaseUrl: database.url },
    );
    try {
      await using _secondServing = await watch(second.models);
      expect(second.models.get("tiny")!.versionId).toBe(champion.id);
      expect(second.models.get("tiny")!.canary?.id).toBe(canary.id);
      expect(second.models.get("tiny")!.canary?.versionId).toBe(candidate.id);

      await traffic(canary, 12);
      // The blind pairs judged on the real review page in Chromium, where there is one.
      const look = browser ? await judgeInBrowser(canary, "champion") : await judge(canary, "champion");
      expect(look.ended).toBe(true);
      expect(look.decision).toBe("reject");
      expect(look.evidence.upper).toBeLessThan(0.5);
      expect((await findCanary(database.db, canary.id))!.state).toBe("rejected");
      expect((await findModelVersion(database.db, candidate.id))!.status).toBe("rejected");
      expect((await findModelVersion(database.db, champion.id))!.status).toBe("champion");
      expect((await findRound(database.db, canary.roundId!))!.state).toBe("rejected");
      await waitFor(() => gateway.models.get("tiny")!.canary === undefined, "the canary to stop");
      await waitFor(
        () => second.models.get("tiny")!.canary === undefined,
        "the second gateway's canary to stop",
      );
      expect(gateway.models.get("tiny")!.versionId).toBe(champion.id);
    } finally {
      await second[Symbol.asyncDispose]();
    }
  }, 600_000);

  it("is shown by medgate canary status and decided by hand with medgate canary decide, audited", async () => {
    const [champion, candidate] = [versions[1]!, versions[3]!];
    const canary = await start(candidate, champion);
    process.env.DATABASE_URL = database.url;
    try {
      const status = await spawnMedgate(["canary", "status", "--json"]).output;
      expect(status.code, status.stderr).toBe(0);
      const shown = JSON.parse(status.stdout);
      expect(shown).toMatchObject({ id: canary.id, state: "running", mode: "split", share: 0.5 });
      expect(shown.evidence).toMatchObject({ comparisons: 0, lower: 0, upper: 1, threshold: 0.5 });

      const unexplained = await spawnMedgate(["canary", "decide", "tiny", "promote"]).output;
      expect(unexplained.code).not.toBe(0);
      expect(unexplained.stderr).toContain("--reason");
      const decided = await spawnMedgate([
        "canary",
        "decide",
        "tiny",
        "promote",
        "--reason",
        "the clinical lead signed it off",
      ]).output;
      expect(decided.code, decided.stderr).toBe(0);
    } finally {
      delete process.env.DATABASE_URL;
    }
    const ended = (await findCanary(database.db, canary.id))!;
    expect(ended.state).toBe("promoted");
    expect(ended.reason).toBe("the clinical lead signed it off");
    expect((await findModelVersion(database.db, candidate.id))!.status).toBe("champion");
    const [audit] = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "medgate canary decide"));
    expect(audit).toMatchObject({ actorKind: "cli", role: "operator" });
    expect(audit!.query).toMatchObject({ canaryId: canary.id, reason: "the clinical lead signed it off" });
    await waitFor(() => gateway.models.get("tiny")!.versionId === candidate.id, "the swap to the candidate");
  }, 300_000);

  it("is decided by the trainer's canary step when a trainer takes up a round left in canary", async () => {
    const [champion, candidate] = [versions[3]!, versions[4]!];
    const canary = await start(candidate, champion);
    await traffic(canary, 11);
    // The verdicts arrive while no trainer runs (one was killed mid-canary, say).
    for (const pair of await pairCanaryAnswers(database.db, canary)) {
      const response = await fetch(`${gateway.url}/v1/feedback`, {
        method: "POST",
        headers: { authorization: `Bearer ${clinicianKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          type: "preference",
          completion_id: pair.championCompletionId,
          other_completion_id: pair.candidateCompletionId,
          preference: "a",
        }),
      });
      expect(response.status).toBe(201);
    }
    const round = await driveRound(canary.roundId!, {
      database,
      workDir: await mkdtemp(join(tmpdir(), "medgate-")),
    });
    expect(round.state).toBe("rejected");
    expect(round.stats).toMatchObject({ canary: { id: canary.id, state: "rejected", losses: 10 } });
    expect((await findCanary(database.db, canary.id))!.decidedBy).toMatch(/^trainer \(round tiny#\d+\)$/u);
    await waitFor(() => gateway.models.get("tiny")!.canary === undefined, "the canary to stop");
  }, 300_000);

  it("in shadow mode answers each request again in the background, never to the client, and promotes by the verdicts", async () => {
    const [champion, candidate] = [versions[3]!, versions[5]!];
    const canary = await start(candidate, champion, "shadow");
    const live: string[] = [];
    for (let prompt = 0; prompt < 12; prompt++) {
      const answer = await gateway.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: `Shadow question ${prompt}: is a nosebleed serious?` }],
        max_tokens: 8,
      });
      live.push(answer.id);
    }
    const shadowRows = async () => {
      await gateway.completionLog.flush();
      return database.db
        .select()
        .from(completions)
        .where(and(eq(completions.canaryId, canary.id), isNotNull(completions.shadowOf)));
    };
    const deadline = Date.now() + 60_000;
    while ((await shadowRows()).length < live.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const shadows = await shadowRows();
    expect(shadows.map((row) => row.shadowOf).sort()).toEqual([...live].sort());
    for (const row of shadows) expect(row.modelVersionId).toBe(candidate.id);
    for (const id of live) {
      const [row] = await database.db.select().from(completions).where(eq(completions.id, id));
      expect(row).toMatchObject({ modelVersionId: champion.id, canaryId: canary.id, shadowOf: null });
    }
    // The chat API never returns a shadow answer.
    const read = await fetch(`${gateway.url}/v1/chat/completions/${shadows[0]!.id}`, {
      headers: gateway.authHeaders,
    });
    expect(read.status).toBe(404);

    const look = await judge(canary, "candidate");
    expect(look.decision).toBe("promote");
    expect((await findCanary(database.db, canary.id))!.state).toBe("promoted");
    await waitFor(() => gateway.models.get("tiny")!.versionId === candidate.id, "the swap to the candidate");
    expect(gateway.models.get("tiny")!.canary).toBeUndefined();
  }, 300_000);

  it("with two clinicians per pair counts a pair once both judged it, and reports their agreement", async () => {
    const [champion, candidate] = [versions[5]!, versions[6]!];
    const canary = await start(candidate, champion, "split", 2);
    await traffic(canary, 3);
    await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
    const pairs = await canaryPairsOf(database.db, canary.id);
    expect(pairs).toHaveLength(3);
    const { secret: secondKey } = await createApiKey(database.db, { name: "dr-second", role: "clinician" });
    const prefer = async (key: string, pair: (typeof pairs)[number], winner: "candidate" | "champion") => {
      const response = await fetch(`${gateway.url}/v1/feedback`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({
          type: "preference",
          completion_id: pair.candidateCompletionId,
          other_completion_id: pair.championCompletionId,
          preference: winner === "candidate" ? "a" : "b",
        }),
      });
      expect(response.status).toBe(201);
    };
    for (const pair of pairs) await prefer(clinicianKey, pair, "candidate");
    expect((await checkCanary(database.db, canary.id, { actor: "t", readOnly: true })).judgedPairs).toBe(0);
    for (const [index, pair] of pairs.entries())
      await prefer(secondKey, pair, index < 2 ? "candidate" : "champion");
    const look = await checkCanary(database.db, canary.id, { actor: "canary.test trainer" });
    // Majorities: two pairs won, one split (a tie).
    expect(look.judgedPairs).toBe(3);
    expect(look.evidence).toMatchObject({ wins: 2, ties: 1, losses: 0 });
    // P̄ = 2/3, P̄e = (25 + 1) / 36: kappa = (2/3 − 26/36) / (10/36) = −0.2.
    expect(look.evidence.clinicianAgreement!.pairs).toBe(3);
    expect(look.evidence.clinicianAgreement!.fleissKappa).toBeCloseTo(-0.2, 6);
    expect((await findCanary(database.db, canary.id))!.evidence!.clinicianAgreement!.pairs).toBe(3);
  }, 300_000);
});
