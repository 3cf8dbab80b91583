// The gate's answer evaluation on a round that teaches a loop: tuned on answers a clinician ended with advice, the
// tiny model learns to end its answers with a garbled, repeated form of it ("Please reach out. Please reach out.
// Please reach out."). The likelihood gate at the tiny preset's tolerances passes the candidate; the probe set's
// check for degenerate repetition fails it, with that reason, in the audit log and in `medgate rounds show`.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { championChangesOf } from "../../db/championChanges.ts";
import { roundAnswersOf } from "../../db/roundAnswers.ts";
import { listRounds } from "../../db/rounds.ts";
import type { RoundRow } from "../../db/schema.ts";
import { mostRepeatedRun } from "../../trainer/eval/answerChecks.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { registerTinyChampion } from "../support/fixtures.ts";
import { spawnMedgate } from "../support/medgateCli.ts";
import { logAnswer } from "../support/roundTraffic.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const ADVICE = " Please consult a clinician.";
const corpus = medicalQa();
/** Questions the traffic never asks. */
const probeQuestions = corpus.slice(30).map((item) => item.q);

let database: TestDatabase;
let workDir: string;
let round: RoundRow;
let judgeServer: Server;

/**
 * An OpenAI-compatible answer judge on 127.0.0.1 that prefers the answer whose most repeated 3-word run comes back
 * fewer times, whichever place it is shown in; between answers that loop alike it picks the first shown.
 */
async function loopAverseJudge(): Promise<string> {
  judgeServer = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const { messages } = JSON.parse(body) as { messages: { content: string }[] };
      const content = messages.at(-1)!.content;
      const a = /\nAnswer A:\n([\s\S]*)\n\nAnswer B:\n/u.exec(content)![1]!;
      const b = /\n\nAnswer B:\n([\s\S]*)\n\nWhich answer is better, A or B\?$/u.exec(content)![1]!;
      const letter = mostRepeatedRun(b, 3) < mostRepeatedRun(a, 3) ? "B" : "A";
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          id: "judge",
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: letter }, finish_reason: "length" }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => judgeServer.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(judgeServer.address() as { port: number }).port}/v1`;
}

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-answer-gate-"));
  const { key } = await createApiKey(database.db, { name: "Dr. Mensah", role: "clinician" });
  await registerTinyChampion(database.db, "tiny", "answerGate.test");
  const at = Date.now() - 60_000;
  for (const [i, item] of corpus.slice(0, 30).entries()) {
    await logAnswer(database.db, {
      id: `chatcmpl-answer-gate-${i}`,
      model: "tiny",
      question: item.q,
      text: item.a,
      at: new Date(at + i),
      correction: { text: `${item.a}${ADVICE}`, clinicianKeyId: key.id },
    });
  }
  const probesPath = join(workDir, "probes.jsonl");
  const probes = probeQuestions.map((q) => JSON.stringify({ conversation: [{ role: "user", content: q }] }));
  await writeFile(probesPath, `${probes.join("\n")}\n`);
  const created = await createRoundFor(database.db, {
    modelName: "tiny",
    config: tinyRoundConfig({
      heldoutFraction: 0.2,
      minHeldout: 4,
      sft: { enabled: true, epochs: 10, learningRate: 3e-4, batchSize: 2, packing: false },
      gate: {
        answers: {
          maxTokens: 64,
          answerJudge: { endpoint: { url: await loopAverseJudge(), model: "loop-averse" } },
          probeSets: [
            {
              name: "unseen",
              path: probesPath,
              checks: [{ kind: "noRepetition", ngram: 3, name: "no loops" }],
            },
          ],
        },
      },
    }),
    createdBy: "answerGate.test",
  });
  round = await driveRound(created.id, { database, workDir: join(workDir, "rounds") });
}, 600_000);

afterAll(async () => {
  judgeServer?.close();
  await database?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("a round whose answers regress on a check", () => {
  it("is rejected by the gate with the check as the reason", async () => {
    expect(round.error).toBeNull();
    expect(round.state).toBe("rejected");
    const gate = round.stats.gate!;
    const check = gate.answers!.probeSets.find((set) => set.name === "unseen")!.checks[0]!;
    expect(check).toMatchObject({ name: "no loops", n: probeQuestions.length, regressed: true });
    expect(check.candidatePassed).toBeLessThan(check.championPassed);
    expect(check.mcnemar.c).toBeGreaterThan(check.mcnemar.b);
    // The benchmarks, the safety set and the held-out pairs pass: the check is the one reason.
    expect(gate.reasons).toHaveLength(1);
    expect(gate.reasons).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^answers "unseen", check "no loops": the candidate passes \\d+/${probeQuestions.length}`,
          "u",
        ),
      ),
    );
    const [change] = await championChangesOf(database.db, "tiny");
    expect(change).toMatchObject({ kind: "reject", roundId: round.id });
    expect(change!.reason).toContain('check "no loops"');
    const rows = await roundAnswersOf(database.db, round.id);
    const looping = rows.filter((row) => row.probeSet === "unseen" && !row.checks[0]!.candidate);
    expect(looping.length).toBe(check.n - check.candidatePassed);
    for (const row of looping) expect(mostRepeatedRun(row.candidateText, 3)).toBeGreaterThan(2);
    // The loop the round taught: the clinicians' advice, garbled and repeated.
    expect(
      looping.filter((row) => /(please reach out\.\s*){3}/iu.test(row.candidateText)).length,
    ).toBeGreaterThan(0);
    console.info(
      `no loops: the champion ${check.championPassed}/${check.n}, the candidate ${check.candidatePassed}/${check.n} (McNemar p=${check.mcnemar.pValue.toPrecision(3)}); every reason: ${gate.reasons.join(" | ")}; answers took ${gate.seconds.answers} s`,
    );
  });

  it("has the configured answer judge compare every pair of answers in both orders", async () => {
    const answers = round.stats.gate!.answers!;
    expect(answers.judge).toMatch(/^pairwise \(endpoint:loop-averse@http:\/\/127\.0\.0\.1:\d+\/v1\)$/u);
    const rows = await roundAnswersOf(database.db, round.id);
    for (const row of rows) {
      const [candidate, champion] = [
        mostRepeatedRun(row.candidateText, 3),
        mostRepeatedRun(row.championText, 3),
      ];
      const expected =
        row.candidateText === row.championText || candidate === champion
          ? "tie"
          : candidate < champion
            ? "win"
            : "loss";
      expect(row.verdict, row.candidateText).toBe(expected);
    }
    const unseen = answers.probeSets.find((set) => set.name === "unseen")!.judge!;
    const check = answers.probeSets.find((set) => set.name === "unseen")!.checks[0]!;
    // Every answer the check says loops is a loss, every one it says stopped looping a win.
    expect(unseen.losses).toBeGreaterThanOrEqual(check.mcnemar.c);
    expect(unseen.wins + unseen.ties + unseen.losses).toBe(probeQuestions.length);
    expect(unseen.winRate).toBe((unseen.wins + unseen.ties / 2) / probeQuestions.length);
    expect(unseen.upper).toBeLessThan(0.5 + 1e-9);
    // The losing answers are the longer ones: at equal length the candidate loses less often.
    expect(unseen.lengthControlledWinRate).toBeGreaterThan(unseen.winRate);
    const overall = answers.overall!;
    console.info(
      `loop-averse judge: unseen ${unseen.wins}/${unseen.ties}/${unseen.losses}, win rate ${unseen.winRate.toFixed(3)} [${unseen.lower.toFixed(3)}, ${unseen.upper.toFixed(3)}], length-controlled ${unseen.lengthControlledWinRate.toFixed(3)} (φ ${unseen.lengthCoefficient.toFixed(2)}); overall ${overall.wins}/${overall.ties}/${overall.losses}, ${overall.winRate.toFixed(3)} [${overall.lower.toFixed(3)}, ${overall.upper.toFixed(3)}], length-controlled ${overall.lengthControlledWinRate.toFixed(3)}`,
    );
  });

  it("refuses to create a round whose probe set is malformed, naming the file, the line and the field", async () => {
    const bad = join(workDir, "bad.jsonl");
    await writeFile(
      bad,
      `${JSON.stringify({ conversation: [{ role: "user", content: "Is this rash serious?" }] })}\n${JSON.stringify(
        {
          conversation: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello" },
          ],
        },
      )}\n`,
    );
    await expect(
      createRoundFor(database.db, {
        modelName: "tiny",
        config: tinyRoundConfig({ gate: { answers: { probeSets: [{ name: "clinic", path: bad }] } } }),
        createdBy: "answerGate.test",
      }),
    ).rejects.toThrow(`Probe set ${bad}:2: conversation: the last message must be the user's`);
    expect((await listRounds(database.db, "tiny")).map((row) => row.number)).toEqual([1]);
  });

  it("shows the answer evaluation in medgate rounds show", async () => {
    const shown = await spawnMedgate(["rounds", "show", "tiny#1", "--database-url", database.url!]).output;
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /answer evaluation \(failed\): greedy, up to 64 tokens; judge: pairwise \(endpoint:loop-averse/u,
    );
    expect(shown.stdout).toContain(
      `\n  unseen (${join(workDir, "probes.jsonl")}): ${probeQuestions.length} prompts;`,
    );
    expect(shown.stdout).toMatch(/\n {4}no loops +\d+\/44 +\d+\/44 +\d+ +\d+ +[\d.e-]+ +REGRESSED\n/u);
    console.info(shown.stdout.slice(shown.stdout.indexOf("answer evaluation")));
  });
});
