// The round judge pre-judging a canary's pairs (`canary.judgePrejudge`), on real PostgreSQL with the real engine: the
// trainer's canary step has the judge (the tiny champion's GGUF, asked in both orders) decide the pairs no clinician
// has judged, stores its verdicts apart, reports them beside the clinicians' in the evidence, the status command, the
// dashboard and the audit row, and decides on the clinicians' verdicts alone; a judge that passed no judgeAgreement
// requirement is not asked, with the reason in the evidence.
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import {
  canaryJudgeVerdictsOf,
  canaryPairsOf,
  findCanary,
  pairCanaryAnswers,
  startCanary,
} from "../../db/canaries.ts";
import { makeChampion } from "../../db/championChanges.ts";
import type { JudgeAgreementReport } from "../../db/gateReport.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { createRound } from "../../db/rounds.ts";
import {
  auditEvents,
  type CanaryPairRow,
  type CanaryRow,
  completions,
  type ModelVersionRow,
  rounds,
} from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { canaryRuleOf } from "../../trainer/canary/canaryDecision.ts";
import { verdictOf } from "../../trainer/eval/winRate.ts";
import { driveRound } from "../../trainer/RoundRunner.ts";
import { canaryConfigSchema, type RoundConfigInput } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { completionRow } from "../support/completionRows.ts";
import { testModels } from "../support/fixtures.ts";
import { spawnMedgate } from "../support/medgateCli.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const canarySection = { judgePrejudge: true, maxComparisons: 20, maxDuration: "1h" } as const;

let database: TestDatabase;
let gateway: TestGateway;
let clinicianKey: string;
const versions: ModelVersionRow[] = [];

beforeAll(async () => {
  const { ggufPath } = testModels();
  database = await createTestDatabase("postgres");
  gateway = await startGateway(
    { modelPath: ggufPath, threads: 1, gpu: false, contextSize: 512 },
    { databaseUrl: database.url },
  );
  const dir = await mkdtemp(join(tmpdir(), "medgate-prejudge-"));
  const sha = await sha256OfFile(ggufPath);
  for (const version of [1, 2, 3]) {
    const path = version === 1 ? ggufPath : join(dir, `tiny-v${version}.gguf`);
    if (version > 1) await copyFile(ggufPath, path);
    versions.push(
      await registerModelVersion(database.db, {
        name: "tiny",
        ggufPath: path,
        ggufSha256: sha,
        status: version === 1 ? "candidate" : "evaluating",
        parentId: versions[0]?.id ?? null,
      }),
    );
  }
  await makeChampion(database.db, versions[0]!.id, {
    kind: "register",
    actor: "canaryPrejudge.test",
    reason: "first champion",
  });
  ({ secret: clinicianKey } = await createApiKey(database.db, { name: "dr-prejudge", role: "clinician" }));
}, 120_000);

afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
});

/** The judge's agreement as the judging step stores it, `used` as judgeAgreement decided. */
function agreement(used: boolean): JudgeAgreementReport {
  const estimate = { value: 0.8, lower: 0.6, upper: 0.9 };
  return {
    judge: "pairwise (local:tiny)",
    kind: "pairwise",
    pairs: 30,
    decisive: 28,
    accuracy: estimate,
    kappa: estimate,
    positionConsistency: estimate,
    lengthBias: { judgeLongerShare: estimate, clinicianLongerShare: estimate },
    tieMargin: 0,
    resamples: 2000,
    seed: 0,
    used,
    reasons: used ? [] : ["accuracy 0.4 is below the minimum 0.7"],
  };
}

/** A round of `tiny` in `canary`, its judge measured against the clinicians as `used` says, and its canary. */
async function canaryOf(
  candidate: ModelVersionRow,
  config: RoundConfigInput,
  used: boolean,
): Promise<CanaryRow> {
  const round = await createRound(database.db, {
    modelName: "tiny",
    baseVersionId: versions[0]!.id,
    config: tinyRoundConfig(config),
    since: null,
    until: new Date(),
    createdBy: "canaryPrejudge.test",
  });
  await database.db
    .update(rounds)
    .set({
      state: "canary",
      candidateVersionId: candidate.id,
      stats: {
        judged: {
          judge: "pairwise (local:tiny)",
          pairs: 30,
          train: 24,
          heldout: 6,
          agreement: agreement(used),
        },
      },
    })
    .where(eq(rounds.id, round.id));
  return startCanary(database.db, {
    modelName: "tiny",
    roundId: round.id,
    championVersionId: versions[0]!.id,
    candidateVersionId: candidate.id,
    mode: "split",
    share: 0.5,
    rule: canaryRuleOf(canaryConfigSchema.parse(config.canary)),
    actor: "canaryPrejudge.test",
  });
}

const good = (i: number) =>
  `For a sore throat (${i}), rest, drink warm fluids and take paracetamol if needed. If it lasts more than a week or you struggle to swallow or breathe, please see a clinician.`;
const poor = (i: number) => `Sore throat ${i} sore throat sore throat.`;

/** Twelve prompts answered by both versions under the canary (one pair with the same text twice), paired. */
async function answers(canary: CanaryRow): Promise<CanaryPairRow[]> {
  const rows = Array.from({ length: 12 }, (_, i) => {
    const messages = [
      { role: "user", content: `Canary ${canary.id.slice(0, 8)} question ${i}: what helps a sore throat?` },
    ];
    const base = { messages, promptHash: `${canary.id}-${i}`, canaryId: canary.id };
    return [
      completionRow(`chatcmpl-${canary.id.slice(0, 8)}-${i}-champion`, {
        ...base,
        modelVersionId: canary.championVersionId,
        choices: [{ index: 0, text: i === 11 ? good(i) : poor(i), finishReason: "stop" }],
      }),
      completionRow(`chatcmpl-${canary.id.slice(0, 8)}-${i}-candidate`, {
        ...base,
        modelVersionId: canary.candidateVersionId,
        choices: [{ index: 0, text: good(i), finishReason: "stop" }],
      }),
    ];
  }).flat();
  await database.db.insert(completions).values(rows);
  await pairCanaryAnswers(database.db, canary);
  // In the questions' order (the answers' ids sort 0, 1, 10, 11, 2, …).
  const question = (pair: CanaryPairRow) => Number(pair.candidateCompletionId.split("-").at(-2));
  return (await canaryPairsOf(database.db, canary.id)).sort((a, b) => question(a) - question(b));
}

/** A clinician's verdict on a pair through POST /v1/feedback. */
async function prefer(pair: CanaryPairRow, winner: "candidate" | "champion"): Promise<void> {
  const response = await fetch(`${gateway.url}/v1/feedback`, {
    method: "POST",
    headers: { authorization: `Bearer ${clinicianKey}`, "content-type": "application/json" },
    body: JSON.stringify({
      type: "preference",
      completion_id: pair.candidateCompletionId,
      other_completion_id: pair.championCompletionId,
      preference: winner === "candidate" ? "a" : "b",
    }),
  });
  expect(response.status).toBe(201);
}

describe("the round judge pre-judging a canary", () => {
  it("decides the pairs no clinician judged, in both orders, apart; the clinicians' verdicts alone decide", async () => {
    const canary = await canaryOf(
      versions[1]!,
      { judgeAgreement: { minAccuracy: 0.7 }, canary: canarySection },
      true,
    );
    const pairs = await answers(canary);
    expect(pairs).toHaveLength(12);
    // Two pairs have a clinician's verdict before the trainer looks: the judge leaves them alone.
    await prefer(pairs[0]!, "candidate");
    await prefer(pairs[1]!, "candidate");
    const round = driveRound(canary.roundId!, {
      database,
      workDir: await mkdtemp(join(tmpdir(), "medgate-")),
    });
    const deadline = Date.now() + 240_000;
    let judged = await canaryJudgeVerdictsOf(database.db, canary.id);
    while (judged.length < 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      judged = await canaryJudgeVerdictsOf(database.db, canary.id);
    }
    expect(judged.map((row) => row.pairId).sort()).toEqual(
      pairs
        .slice(2)
        .map((pair) => pair.id)
        .sort(),
    );
    for (const row of judged) {
      expect(row.judge).toMatch(/^pairwise \(/u);
      if (row.pairId === pairs[11]!.id) {
        // The same text on both sides: a tie without asking.
        expect(row).toMatchObject({ verdict: "tie", candidateFirst: null, candidateSecond: null });
      } else {
        expect(row.candidateFirst).toBeGreaterThanOrEqual(0);
        expect(row.candidateSecond).toBeLessThanOrEqual(1);
        const verdict = verdictOf(row.candidateFirst!, row.candidateSecond!);
        expect(row.verdict).toBe(verdict === "win" ? "candidate" : verdict === "loss" ? "champion" : "tie");
      }
    }
    // The trainer's look reports them apart: no clinician verdict counted beyond the two.
    let running = (await findCanary(database.db, canary.id))!;
    while (running.evidence?.judge?.verdicts !== 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      running = (await findCanary(database.db, canary.id))!;
    }
    expect(running.evidence).toMatchObject({
      comparisons: 2,
      wins: 2,
      judge: { verdicts: 10, agreement: { pairs: 0 } },
    });

    // The clinicians judge eight more, the candidate better each time: ten verdicts, the rule promotes.
    for (const pair of pairs.slice(2, 10)) await prefer(pair, "candidate");
    const ended = await round;
    expect(ended.state).toBe("promoted");
    const decided = (await findCanary(database.db, canary.id))!;
    const evidence = decided.evidence!;
    expect(decided.state).toBe("promoted");
    // The decision rests on the clinicians' ten verdicts only.
    expect(evidence).toMatchObject({ comparisons: 10, wins: 10, ties: 0, losses: 0 });
    expect([...evidence.pairIds].sort()).toEqual(
      pairs
        .slice(0, 10)
        .map((pair) => pair.id)
        .sort(),
    );
    const value = (verdict: string) => (verdict === "candidate" ? 1 : verdict === "tie" ? 0.5 : 0);
    const judgeRate = judged.reduce((sum, row) => sum + value(row.verdict), 0) / judged.length;
    const onlyJudge = judged.filter((row) => [pairs[10]!.id, pairs[11]!.id].includes(row.pairId));
    const agreed = judged.filter((row) => row.pairId !== pairs[10]!.id && row.pairId !== pairs[11]!.id);
    expect(evidence.judge).toMatchObject({
      verdicts: 10,
      wins: judged.filter((row) => row.verdict === "candidate").length,
      agreement: { pairs: 8, agreed: agreed.filter((row) => row.verdict === "candidate").length },
      // A clinician's verdict replaces the judge's: ten clinicians' wins, and the judge's two where none spoke.
      combined: { pairs: 12 },
    });
    expect(evidence.judge!.winRate).toBeCloseTo(judgeRate, 10);
    expect(evidence.judge!.combined.winRate).toBeCloseTo(
      (10 + onlyJudge.reduce((sum, row) => sum + value(row.verdict), 0)) / 12,
      10,
    );
    expect(evidence.judge!.judge).toBe(judged[0]!.judge);

    const [audit] = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "canary promote"));
    expect(audit!.query).toMatchObject({ canaryId: canary.id, comparisons: 10, judgeVerdicts: 10 });

    process.env.DATABASE_URL = database.url;
    try {
      const status = await spawnMedgate(["canary", "status", "tiny"]).output;
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/judge pairwise \(.*\), apart \(not counted\): 10 pairs/u);
      expect(status.stdout).toContain("agrees with the clinicians on");
    } finally {
      delete process.env.DATABASE_URL;
    }
    const dashboard = await fetch(`${gateway.url}/admin`, {
      headers: { cookie: `medgate_admin=${gateway.apiKey}` },
    });
    expect(dashboard.status).toBe(200);
    const html = await dashboard.text();
    const panel = html.slice(html.indexOf(`data-canary-id="${canary.id}"`));
    expect(panel).toMatch(/judge, apart \(not counted\): 10 pairs/u);
  }, 400_000);

  it("is skipped, with the reason in the evidence, when the round's judge did not pass judgeAgreement", async () => {
    const canary = await canaryOf(
      versions[2]!,
      { judgeAgreement: { minAccuracy: 0.7 }, canary: canarySection },
      false,
    );
    const pairs = await answers(canary);
    // The clinicians prefer the champion on ten pairs before the trainer looks: its first look rejects.
    for (const pair of pairs.slice(0, 10)) await prefer(pair, "champion");
    const ended = await driveRound(canary.roundId!, {
      database,
      workDir: await mkdtemp(join(tmpdir(), "medgate-")),
    });
    expect(ended.state).toBe("rejected");
    expect(await canaryJudgeVerdictsOf(database.db, canary.id)).toHaveLength(0);
    const decided = (await findCanary(database.db, canary.id))!;
    expect(decided.evidence).toMatchObject({ comparisons: 10, losses: 10 });
    expect(decided.evidence!.judge).toMatchObject({ judge: null, verdicts: 0 });
    expect(decided.evidence!.judge!.skipped).toMatch(/did not pass judgeAgreement \(accuracy 0\.4 is below/u);
    const [audit] = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "canary reject"));
    expect(audit!.query).toMatchObject({ canaryId: canary.id, judgeVerdicts: 0 });
    expect(String(audit!.query.judgeSkipped)).toContain("did not pass judgeAgreement");
  }, 300_000);
});
