import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import type { JudgeAgreementReport } from "../../db/gateReport.ts";
import { findRound, roundPairsOf } from "../../db/rounds.ts";
import type { RoundRow } from "../../db/schema.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import type { JudgeAgreement } from "../../trainer/judges/agreement.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import type { RoundConfigInput } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { registerTinyChampion, testModels } from "../support/fixtures.ts";
import { spawnMedgate } from "../support/medgateCli.ts";
import { logAnswer } from "../support/roundTraffic.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const ADVICE = " Please consult a clinician.";
const corpus = medicalQa();

const medgate = (args: string[]) => spawnMedgate(args).output;

type Rule = (a: string, b: string) => "A" | "B";

/** An OpenAI-compatible judge on 127.0.0.1: reads the two answers of the verdict prompt, answers one letter. */
async function judgeEndpoint(rule: Rule): Promise<{ url: string; asked: () => number; server: Server }> {
  let asked = 0;
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      asked++;
      const { messages } = JSON.parse(body) as { messages: { content: string }[] };
      const content = messages.at(-1)!.content;
      const a = /\nAnswer A:\n([\s\S]*)\n\nAnswer B:\n/u.exec(content)![1]!;
      const b = /\n\nAnswer B:\n([\s\S]*)\n\nWhich answer is better, A or B\?$/u.exec(content)![1]!;
      const letter = rule(a, b);
      const other = letter === "A" ? "B" : "A";
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          id: "judge",
          object: "chat.completion",
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: letter },
              logprobs: {
                content: [
                  {
                    token: letter,
                    logprob: Math.log(0.9),
                    top_logprobs: [
                      { token: letter, logprob: Math.log(0.9) },
                      { token: other, logprob: Math.log(0.1) },
                    ],
                  },
                ],
              },
              finish_reason: "length",
            },
          ],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/v1`, asked: () => asked, server };
}

const rules: Record<"follows" | "first" | "longer", Rule> = {
  follows: (a, b) =>
    a.includes(ADVICE) !== b.includes(ADVICE)
      ? a.includes(ADVICE)
        ? "A"
        : "B"
      : a.length >= b.length
        ? "A"
        : "B",
  first: () => "A",
  longer: (a, b) => (a.length >= b.length ? "A" : "B"),
};

let database: TestDatabase;
let workDir: string;
let clinicianKeyId: string;
const endpoints = new Map<keyof typeof rules, Awaited<ReturnType<typeof judgeEndpoint>>>();

/**
 * 24 answers for `model` a clinician corrected with the advice (half by shortening a long answer, half by adding
 * to it), and 6 prompts left to the judge.
 */
async function logTraffic(model: string, at: Date): Promise<void> {
  for (const [i, item] of corpus.slice(0, 30).entries()) {
    const long = i % 2 === 0;
    const short = item.a.split(/(?<=\.)\s/u)[0]!;
    await logAnswer(database.db, {
      id: `chatcmpl-${model}-${i}`,
      model,
      question: item.q,
      text: long ? `${item.a} ${item.a} ${item.a}` : item.a,
      at: new Date(at.getTime() + i),
      ...(i < 24
        ? { correction: { text: long ? `${short}${ADVICE}` : `${item.a}${ADVICE}`, clinicianKeyId } }
        : {}),
    });
  }
}

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-judge-agreement-"));
  clinicianKeyId = (await createApiKey(database.db, { name: "Dr. Adeyemi", role: "clinician" })).key.id;
  for (const model of ["follows", "first", "longer"] as const) {
    await registerTinyChampion(database.db, `tiny-${model}`, "judgeAgreement.test");
    await logTraffic(`tiny-${model}`, new Date(Date.now() - 60_000));
    endpoints.set(model, await judgeEndpoint(rules[model]));
  }
}, 120_000);

afterAll(async () => {
  for (const { server } of endpoints.values()) server.close();
  await database?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs a round of `model` judged by its endpoint up to the end of judging, then stops it there. */
async function judgedRound(model: keyof typeof rules, overrides: RoundConfigInput): Promise<RoundRow> {
  const created = await createRoundFor(database.db, {
    modelName: `tiny-${model}`,
    config: tinyRoundConfig({
      judge: "pairwise",
      judgeModel: { endpoint: { url: endpoints.get(model)!.url, model: "judge" } },
      ...overrides,
    }),
    createdBy: "judgeAgreement.test",
  });
  const stop = new AbortController();
  await driveRound(created.id, {
    database,
    workDir,
    signal: stop.signal,
    onProgress: (event) => {
      if (event.step === "training") stop.abort(new Error("stopped after judging"));
    },
  }).catch((error: Error) => {
    if (!stop.signal.aborted) throw error;
  });
  return (await findRound(database.db, created.id))!;
}

const requirement = { judgeAgreement: { minAccuracy: 0.8, minPairs: 20 } };

describe("a round checks its judge against the clinicians first", () => {
  it("uses a judge that follows the clinicians' rule, and stores its agreement", async () => {
    const round = await judgedRound("follows", requirement);
    expect(round.state, round.error ?? "").toBe("training");
    const agreement = round.stats.judged!.agreement!;
    expect(agreement).toMatchObject({ pairs: 24, decisive: 24, used: true, reasons: [], kind: "pairwise" });
    expect(agreement.accuracy.value).toBe(1);
    expect(agreement.kappa.value).toBe(1);
    expect(agreement.positionConsistency.value).toBe(1);
    // The clinicians prefer the longer answer in half of the pairs; so does this judge.
    expect(agreement.lengthBias.clinicianLongerShare.value).toBe(0.5);
    const pairs = await roundPairsOf(database.db, round.id);
    expect(pairs.filter((pair) => pair.source === "judge:pairwise").length).toBeGreaterThan(0);
    expect(pairs.filter((pair) => pair.source === "clinician-correction")).toHaveLength(24);
  }, 300_000);

  it("refuses a judge that always prefers the first answer, and trains on clinician pairs only", async () => {
    const round = await judgedRound("first", requirement);
    expect(round.state, round.error ?? "").toBe("training");
    const agreement = round.stats.judged!.agreement!;
    expect(agreement).toMatchObject({ pairs: 24, used: false });
    expect(agreement.accuracy.value).toBe(0);
    expect(agreement.positionConsistency.value).toBe(0);
    expect(agreement.reasons).toEqual(["accuracy 0 is below the minimum 0.8"]);
    expect(round.stats.warnings).toContainEqual(expect.stringContaining("The judge was not used"));
    const pairs = await roundPairsOf(database.db, round.id);
    expect(pairs.map((pair) => pair.source)).toEqual(pairs.map(() => "clinician-correction"));
    expect(round.stats.judged!.dropped).toMatchObject({ "judge-refused": 6 });
  }, 300_000);

  it("fails the round with the reason when a length-biased judge is below the minimum and the config says fail", async () => {
    const round = await judgedRound("longer", {
      judgeAgreement: { ...requirement.judgeAgreement, onBelow: "fail" },
    });
    expect(round.state).toBe("failed");
    expect(round.error).toMatch(/was not used: accuracy 0\.5 is below the minimum 0\.8/u);
    expect(round.error).toContain('judgeAgreement.onBelow is "fail"');
  }, 300_000);
});

describe("medgate judge eval", () => {
  it("gives a round's figures for any judge: the tiny GGUF as pairwise judge, a pairs file", async () => {
    const { ggufPath } = testModels();
    const [round] = await Promise.all([
      database.db.query.rounds.findFirst({ where: (rounds, { eq }) => eq(rounds.modelName, "tiny-first") }),
    ]);
    const json = join(workDir, "agreement.json");
    const onRound = await medgate([
      "judge",
      "eval",
      "--judge",
      "pairwise",
      "--judge-model",
      ggufPath,
      "--round",
      `tiny-first#${round!.number}`,
      "--threads",
      "1",
      "--json",
      json,
      "--database-url",
      database.url!,
    ]);
    expect(onRound.code, onRound.stderr).toBe(0);
    expect(onRound.stdout).toMatch(/^pairs\t24 \(24 decisive\)$/mu);
    expect(onRound.stdout).toMatch(/^accuracy\t\d\.\d{3}\t\[\d\.\d{3}, \d\.\d{3}\]$/mu);
    const measured = JSON.parse(await readFile(json, "utf8")) as JudgeAgreement;
    expect(measured.verdicts).toHaveLength(24);
    console.info(
      `tiny GGUF as pairwise judge on 24 clinician pairs: accuracy ${measured.accuracy.value} [${measured.accuracy.lower}, ${measured.accuracy.upper}], kappa ${measured.kappa.value}, position consistency ${measured.positionConsistency.value}`,
    );

    // A pairs file judged by an endpoint gives what the round measured with it.
    const file = join(workDir, "pairs.jsonl");
    const stored = (await findRound(database.db, round!.id))!.stats.judged!.agreement as JudgeAgreementReport;
    const lines = corpus.slice(0, 24).map((item, i) => {
      const better = `${item.a}${ADVICE}`;
      const worse = i % 2 === 0 ? `${item.a} ${item.a} ${item.a}` : item.a;
      return JSON.stringify({
        conversation: [{ role: "user", content: item.q }],
        ...(i % 3 === 0
          ? { a: worse, b: better, preference: "b" }
          : { a: better, b: worse, preference: "a" }),
      });
    });
    await writeFile(file, `${lines.join("\n")}\n`);
    const onFile = await medgate([
      "judge",
      "eval",
      "--judge",
      "pairwise",
      "--judge-model",
      endpoints.get("first")!.url,
      "--endpoint-model",
      "judge",
      "--pairs",
      file,
      "--min-margin",
      "0",
      "--database-url",
      database.url!,
    ]);
    expect(onFile.code, onFile.stderr).toBe(0);
    expect(onFile.stdout).toContain("accuracy\t0.000\t[0.000, 0.000]");
    expect(onFile.stdout).toContain("position consistency\t0.000");
    expect(stored.accuracy.value).toBe(0);

    // `medgate rounds show` prints the figures the round stored, and why its judge was not used.
    const shown = await medgate([
      "rounds",
      "show",
      `tiny-first#${round!.number}`,
      "--database-url",
      database.url!,
    ]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(
      "judge agreement with clinicians (not used: accuracy 0 is below the minimum 0.8):\njudge\tpairwise (endpoint:judge@",
    );
    expect(shown.stdout).toMatch(/^position consistency\t0\.000\t\[0\.000, 0\.000\]$/mu);

    // Bad input: a clear message and exit 2.
    await writeFile(file, '{"conversation": [], "a": "x", "b": "y", "preference": "a"}\n');
    const bad = await medgate([
      "judge",
      "eval",
      "--judge",
      "pairwise",
      "--judge-model",
      ggufPath,
      "--pairs",
      file,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}:1: field "conversation": must hold at least one message`);
    const neither = await medgate(["judge", "eval", "--judge", "pairwise", "--judge-model", ggufPath]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain("one of --pairs FILE or --round ROUND");
  }, 300_000);
});
