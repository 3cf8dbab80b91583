// npm run bench:loop — R rounds of the loop on the demo model (default 3), driven through the API by a simulated
// clinician panel (loadtest/bench-loop/panel.ts). Each round: fresh patient questions, two answers each, the
// panel's feedback by its rules, then a round with the demo's settings whose gate also answers the demo's probe set
// (prompts never sent as traffic) and checks the answers with the panel's rubric. After each round, on the probe
// set: the panel's win rate of the champion against v1 and against the previous champion, each rubric property's
// pass rate, mean length, pooled benchmark accuracy, the gate's decision, the judge's agreement with the panel and
// the judge's chosen − rejected margins. Prints a Markdown table; --json writes every figure.
import "disposablestack/auto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chatEngineChoice } from "../cli/chatEngineChoice.ts";
import { CLINICIAN_ADVICE, DemoClient, demoProbeSet, say, startDemoSystem } from "../cli/demoCommand.ts";
import { ProgressLine } from "../cli/progress.ts";
import { createApiKey } from "../db/apiKeys.ts";
import { createDatabase } from "../db/createDatabase.ts";
import type { MarginSummary } from "../db/gateReport.ts";
import { roundAnswersOf } from "../db/roundAnswers.ts";
import { listRounds } from "../db/rounds.ts";
import type { RoundRow } from "../db/schema.ts";
import { mapConcurrent } from "../trainer/concurrency.ts";
import { medicalQa } from "../trainer/fixtures.ts";
import { createRoundFor, driveRound } from "../trainer/RoundRunner.ts";
import { demoRoundConfig } from "../trainer/roundPresets.ts";
import {
  correct,
  hasAll,
  memberAgreement,
  panel,
  panelMaxWords,
  panelWinRate,
  prefer,
  properties,
  propertiesOf,
  rubricChecks,
  score,
  wordCount,
} from "./bench-loop/panel.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    questions: { type: "string", default: "24" },
    "max-tokens": { type: "string", default: "64" },
    "check-tolerance": { type: "string", default: "0.1" },
    "data-dir": { type: "string", default: ".medgate/bench-loop" },
    model: { type: "string", default: "smollm2-135m-instruct" },
    "models-dir": { type: "string", default: ".medgate/models" },
    threads: { type: "string", default: "1" },
    json: { type: "string" },
    report: { type: "boolean", default: false },
    continue: { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds);
const perRound = Number(values.questions);
const maxTokens = Number(values["max-tokens"]);
// llama.cpp's threads for serving and the gate: one by default, so that a shared CPU slows it down rather than stalls it.
const threads = Number(values.threads);
const allQuestions = medicalQa().map((item) => item.q);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(perRound) || perRound < 8)
  throw new Error("--rounds must be a positive integer and --questions an integer of at least 8");
if (!values.report && !values.continue && rounds * perRound > allQuestions.length)
  throw new Error(
    `${rounds} rounds of ${perRound} fresh questions need ${rounds * perRound}; the fixtures hold ${allQuestions.length}`,
  );

const advice = CLINICIAN_ADVICE.trim();
const probeSetName = "panel";
const dataDir = resolve(values["data-dir"]);
await using resources = new AsyncDisposableStack();
// --report: the table of the rounds already in DATA_DIR's database (a run that was stopped keeps its rounds).
const system = values.report
  ? undefined
  : await (async () => {
      // --continue: more rounds on DATA_DIR's registry and traffic, after the rounds it holds.
      if (!values.continue) await rm(dataDir, { recursive: true, force: true });
      await mkdir(dataDir, { recursive: true });
      return startDemoSystem(resources, {
        dataDir,
        model: values.model,
        modelsDir: values["models-dir"],
        host: "127.0.0.1",
        port: 0,
        preset: "demo",
        // In-process, as the rounds before were measured; a llama-server build in the background would take cores
        // from the rounds it times.
        engine: chatEngineChoice({ engine: "node-llama-cpp" }, {}),
        threads,
      });
    })();
const database = system?.database ?? resources.use(await createDatabase({ dataDir: join(dataDir, "db") }));
const base = demoRoundConfig();
const roundConfig = demoRoundConfig({
  inference: { ...base.inference, threads },
  gate: {
    ...base.gate,
    policy: { ...base.gate!.policy, answers: { checkTolerance: Number(values["check-tolerance"]) } },
    answers: {
      maxTokens: 160,
      probeSets: [{ name: probeSetName, path: demoProbeSet, checks: Object.values(rubricChecks()) }],
    },
  },
});

type RoundFigures = {
  /** 0 for v1 before any round. */
  round: number;
  /** The round's candidate (v1 in row 0), the gate's decision on it, and the champion after the round. */
  candidate: number;
  gate: "passed" | "failed" | "—";
  reasons: string[];
  champion: number;
  /** Seconds of the round's steps, and of its traffic and feedback when this run sent them. */
  seconds: { traffic: number | null; feedback: number | null; round: number };
  feedback: { corrections: number; preferences: number; ratings: number; toJudge: number } | null;
  memberAgreement: number | null;
  /** The panel's win rate of the candidate against v1 and against the champion it was gated against. */
  winRateVsV1: number;
  winRateVsChampion: number;
  passRates: Record<string, number>;
  allProperties: number;
  meanWords: number;
  pooledAccuracy: number | null;
  judgeAgreement: { accuracy: number | null; pairs: number } | null;
  margins: MarginSummary | null;
};

const figuresOf = (answers: string[]) => {
  const has = answers.map((text) => propertiesOf(text));
  const rate = (test: (h: Record<string, boolean>) => boolean) => has.filter(test).length / answers.length;
  return {
    passRates: Object.fromEntries(properties.map((p) => [p, rate((h) => h[p]!)])),
    allProperties: rate((h) => properties.every((p) => h[p])),
    meanWords: answers.reduce((sum, text) => sum + wordCount(text), 0) / answers.length,
  };
};

const table: RoundFigures[] = [];
let v1Answers: string[] | undefined;

/** A finished round's row (and v1's before the first): the candidate's answers to the probe set as the gate stored them. */
async function addRound(
  round: RoundRow,
  live: Pick<RoundFigures, "seconds" | "feedback" | "memberAgreement"> | null,
) {
  const gate = round.stats.gate;
  if (!gate)
    throw new Error(`round ${round.number} has no gate report (${round.state}: ${round.error ?? ""})`);
  const stored = (await roundAnswersOf(database.db, round.id)).filter(
    (row) => row.probeSet === probeSetName && row.sample === 0,
  );
  const champion = stored.map((row) => row.championText);
  const candidate = stored.map((row) => row.candidateText);
  if (!v1Answers) {
    v1Answers = champion;
    table.push({
      round: 0,
      candidate: gate.champion.version,
      gate: "—",
      reasons: [],
      champion: gate.champion.version,
      seconds: { traffic: null, feedback: null, round: 0 },
      feedback: null,
      memberAgreement: null,
      winRateVsV1: 0.5,
      winRateVsChampion: 0.5,
      ...figuresOf(champion),
      pooledAccuracy: gate.pooled.championAccuracy,
      judgeAgreement: null,
      margins: null,
    });
  }
  const agreement = round.stats.judged?.agreement;
  const stepSeconds = Object.values(round.stats.seconds ?? {}).reduce((sum, value) => sum + value, 0);
  table.push({
    round: round.number,
    candidate: gate.candidate.version,
    gate: gate.passed ? "passed" : "failed",
    reasons: gate.reasons,
    champion: gate.passed ? gate.candidate.version : gate.champion.version,
    seconds: { traffic: null, feedback: null, round: stepSeconds },
    feedback: null,
    memberAgreement: null,
    ...live,
    winRateVsV1: panelWinRate(candidate, v1Answers),
    winRateVsChampion: panelWinRate(candidate, champion),
    ...figuresOf(candidate),
    pooledAccuracy: gate.pooled.candidateAccuracy,
    judgeAgreement: agreement ? { accuracy: agreement.accuracy.value, pairs: agreement.pairs } : null,
    margins: round.stats.judged?.margins ?? null,
  });
}

const earlier = values.report || values.continue ? (await listRounds(database.db)).reverse() : [];
for (const round of earlier) if (round.stats.gate) await addRound(round, null);
if (!values.report) {
  const { models, modelName } = system!;
  const api = new DemoClient(system!.server.url, modelName);
  const memberKeys = new Map<string, string>();
  for (const member of panel)
    memberKeys.set(
      member.name,
      (await createApiKey(database.db, { name: member.name, role: "clinician" })).secret,
    );
  const progress = new ProgressLine();
  for (let r = earlier.length + 1; r <= earlier.length + rounds; r++) {
    const started = performance.now();
    // 1. Fresh traffic: each question answered twice (sampled at 0.7, seeded).
    const questions = allQuestions.slice((r - 1) * perRound, r * perRound);
    if (questions.length < perRound)
      throw new Error(
        `round ${r} needs ${perRound} fresh questions; the fixtures hold ${allQuestions.length}`,
      );
    let done = 0;
    const answered = await mapConcurrent(questions, 4, async (question, i) => {
      const a = await api.ask(system!.keys.app, question, maxTokens, r * 1000 + i);
      const b = await api.ask(system!.keys.app, question, maxTokens, r * 1000 + 500 + i);
      progress.update("traffic", ++done, questions.length);
      return { question, a, b };
    });
    progress.end();
    const trafficDone = performance.now();

    // 2. The panel's feedback: each question goes to one member in turn; every fifth is left to the AI judge. A
    // member prefers the better answer when it has every property of the rubric, else corrects it; answers scoring
    // half the member's total or less are rated down.
    const feedback = { corrections: 0, preferences: 0, ratings: 0, toJudge: 0 };
    for (const [i, { a, b }] of answered.entries()) {
      const member = panel[i % panel.length]!;
      const key = memberKeys.get(member.name)!;
      const full = Object.values(member.weights).reduce((sum, weight) => sum + weight, 0);
      for (const answer of [a, b])
        if (score(member, answer.text) <= full / 2) {
          await api.feedback(key, { type: "rating", completion_id: answer.id, rating: "down" });
          feedback.ratings++;
        }
      if (i % 5 === 4) {
        feedback.toJudge++;
        continue;
      }
      const verdict = prefer(member, a.text, b.text);
      const best = verdict === "b" ? b : a;
      if (verdict !== "tie" && hasAll(member, best.text)) {
        await api.feedback(key, {
          type: "preference",
          completion_id: a.id,
          other_completion_id: b.id,
          preference: verdict,
        });
        feedback.preferences++;
      } else {
        await api.feedback(key, {
          type: "correction",
          completion_id: best.id,
          correction: correct(member, best.text, advice),
        });
        feedback.corrections++;
      }
    }
    await system!.completionLog.flush();
    const feedbackDone = performance.now();
    say(
      "panel",
      `round ${r}: ${questions.length} questions, ${feedback.corrections} corrections, ${feedback.preferences} preferences, ${feedback.ratings} answers rated down, ${feedback.toJudge} left to the judge`,
    );

    // 3. The round, up to the gate's decision (a promotion is followed by the gateway's swap).
    const created = await createRoundFor(database.db, {
      modelName,
      config: roundConfig,
      createdBy: "bench:loop",
    });
    const round: RoundRow = await driveRound(created.id, {
      database,
      workDir: join(dataDir, "rounds"),
      onProgress: ({ step, done, total, message }) => progress.update(step, done, total, message),
    });
    progress.end();
    if (round.state === "failed") throw new Error(`round ${r} failed: ${round.error}`);
    if (round.state === "promoted") {
      const deadline = Date.now() + 120_000;
      while (models.get(modelName)?.versionId !== round.candidateVersionId && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await addRound(round, {
      seconds: {
        traffic: (trafficDone - started) / 1000,
        feedback: (feedbackDone - trafficDone) / 1000,
        round: (performance.now() - feedbackDone) / 1000,
      },
      feedback,
      memberAgreement: memberAgreement(answered.map(({ a, b }) => [a.text, b.text])),
    });
    const row = table.at(-1)!;
    say(
      "round",
      `round ${r}: v${row.candidate} ${row.gate === "passed" ? "promoted" : `rejected (${row.reasons.join("; ")})`}; its win rate against v1 ${row.winRateVsV1.toFixed(2)}, all four properties ${(row.allProperties * 100).toFixed(0)}%; ${((performance.now() - started) / 60_000).toFixed(1)} min`,
    );
  }
}

const pct = (value: number) => `${(value * 100).toFixed(0)}%`;
const fixed = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined ? "—" : value.toFixed(digits);
const minutes = (row: RoundFigures) =>
  row.round === 0 ? "—" : ((row.seconds.traffic ?? 0) + (row.seconds.feedback ?? 0) + row.seconds.round) / 60;
const lines = [
  `Probe set: ${demoProbeSet.replace(`${process.cwd()}/`, "")} (${v1Answers?.length ?? 0} prompts no round sees), greedy, up to 160 tokens; the panel's word limit ${panelMaxWords}.`,
  "",
  "| round | candidate | gate | champion after | min | win vs v1 | win vs champion | complete | safety-netting | no repetition | concise | all four | mean words | pooled accuracy | judge agreement (pairs) | judge margins p25 / p50 / p75 (n) |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...table
    .map((row) =>
      [
        row.round === 0 ? "—" : String(row.round),
        `v${row.candidate}`,
        row.gate,
        `v${row.champion}`,
        typeof minutes(row) === "number" ? (minutes(row) as number).toFixed(1) : "—",
        fixed(row.winRateVsV1),
        fixed(row.winRateVsChampion),
        ...properties.map((p) => pct(row.passRates[p]!)),
        pct(row.allProperties),
        row.meanWords.toFixed(0),
        row.pooledAccuracy === null ? "—" : pct(row.pooledAccuracy),
        row.judgeAgreement ? `${fixed(row.judgeAgreement.accuracy)} (${row.judgeAgreement.pairs})` : "—",
        row.margins
          ? `${fixed(row.margins.p25)} / ${fixed(row.margins.p50)} / ${fixed(row.margins.p75)} (${row.margins.n})`
          : "—",
      ].join(" | "),
    )
    .map((line) => `| ${line} |`),
];
console.log(lines.join("\n"));
for (const row of table.slice(1))
  console.log(
    `round ${row.round}: ${row.seconds.traffic === null ? "" : `${(row.seconds.traffic / 60).toFixed(1)} min traffic, `}${(row.seconds.round / 60).toFixed(1)} min round${row.feedback ? `; feedback ${JSON.stringify(row.feedback)}` : ""}${row.memberAgreement === null ? "" : `; the members agree on ${pct(row.memberAgreement)} of the traffic's pairs`}${row.reasons.length ? `; gate: ${row.reasons.join("; ")}` : ""}`,
  );
if (values.json) await writeFile(values.json, `${JSON.stringify(table, null, 1)}\n`);
