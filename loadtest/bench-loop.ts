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
import { and, eq, isNotNull } from "drizzle-orm";
import { CLINICIAN_ADVICE, DemoClient, demoProbeSet, say, startDemoSystem } from "../cli/demoCommand.ts";
import { ProgressLine } from "../cli/progress.ts";
import { createApiKey } from "../db/apiKeys.ts";
import { roundAnswersOf } from "../db/roundAnswers.ts";
import { type RoundRow, roundPairs } from "../db/schema.ts";
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
import { percentile } from "./benchParts.ts";

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
if (rounds * perRound > allQuestions.length)
  throw new Error(
    `${rounds} rounds of ${perRound} fresh questions need ${rounds * perRound}; the fixtures hold ${allQuestions.length}`,
  );

const advice = CLINICIAN_ADVICE.trim();
const probeSetName = "panel";
const dataDir = resolve(values["data-dir"]);
await rm(dataDir, { recursive: true, force: true });
await mkdir(dataDir, { recursive: true });

await using resources = new AsyncDisposableStack();
const system = await startDemoSystem(resources, {
  dataDir,
  model: values.model,
  modelsDir: values["models-dir"],
  host: "127.0.0.1",
  port: 0,
  preset: "demo",
  threads,
});
const { database, models, modelName } = system;
const api = new DemoClient(system.server.url, modelName);
const memberKeys = new Map<string, string>();
for (const member of panel)
  memberKeys.set(
    member.name,
    (await createApiKey(database.db, { name: member.name, role: "clinician" })).secret,
  );

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
  round: number;
  gate: "passed" | "failed" | "—";
  reasons: string[];
  champion: number;
  seconds: { traffic: number; feedback: number; round: number; total: number };
  feedback: { corrections: number; preferences: number; ratings: number; toJudge: number };
  memberAgreement: number | null;
  winRateVsV1: number;
  winRateVsPrevious: number;
  candidateWinRateVsChampion: number | null;
  passRates: Record<string, number>;
  allProperties: number;
  meanWords: number;
  pooledAccuracy: number | null;
  judgeAgreement: { accuracy: number | null; pairs: number } | null;
  margins: { n: number; p25: number; p50: number; p75: number } | null;
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
let championAnswers: string[] | undefined;
let championVersion = 1;
const progress = new ProgressLine();

for (let r = 1; r <= rounds; r++) {
  const started = performance.now();
  // 1. Fresh traffic: each question answered twice (sampled at 0.7, seeded).
  const questions = allQuestions.slice((r - 1) * perRound, r * perRound);
  let done = 0;
  const answered = await mapConcurrent(questions, 4, async (question, i) => {
    const a = await api.ask(system.keys.app, question, maxTokens, r * 1000 + i);
    const b = await api.ask(system.keys.app, question, maxTokens, r * 1000 + 500 + i);
    progress.update("traffic", ++done, questions.length);
    return { question, a, b };
  });
  progress.end();
  const trafficSeconds = (performance.now() - started) / 1000;

  // 2. The panel's feedback: each question goes to one member in turn; every fifth is left to the AI judge. A member
  // prefers the better answer when it has every property of the rubric, else corrects it; answers scoring half the
  // member's total or less are rated down.
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
  await system.completionLog.flush();
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
  const gate = round.stats.gate!;
  const promoted = round.state === "promoted";
  if (promoted) {
    const deadline = Date.now() + 120_000;
    while (models.get(modelName)?.versionId !== round.candidateVersionId && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    championVersion = gate.candidate.version;
  }
  const finished = performance.now();

  // 4. What the champion now answers to the probe set, from the gate's stored answers.
  const stored = (await roundAnswersOf(database.db, round.id)).filter(
    (row) => row.probeSet === probeSetName && row.sample === 0,
  );
  const previous = stored.map((row) => row.championText);
  const candidate = stored.map((row) => row.candidateText);
  v1Answers ??= previous;
  const previousChampion = championAnswers ?? previous;
  championAnswers = promoted ? candidate : previous;
  const margins = (
    await database.db
      .select({ margin: roundPairs.margin })
      .from(roundPairs)
      .where(and(eq(roundPairs.roundId, round.id), isNotNull(roundPairs.margin)))
  ).map((row) => row.margin!);
  const agreement = round.stats.judged?.agreement;
  table.push({
    round: r,
    gate: gate.passed ? "passed" : "failed",
    reasons: gate.reasons,
    champion: championVersion,
    seconds: {
      traffic: trafficSeconds,
      feedback: (feedbackDone - started) / 1000 - trafficSeconds,
      round: (finished - feedbackDone) / 1000,
      total: (finished - started) / 1000,
    },
    feedback,
    memberAgreement: memberAgreement(answered.map(({ a, b }) => [a.text, b.text])),
    winRateVsV1: panelWinRate(championAnswers, v1Answers),
    winRateVsPrevious: panelWinRate(championAnswers, previousChampion),
    candidateWinRateVsChampion: panelWinRate(candidate, previous),
    ...figuresOf(championAnswers),
    pooledAccuracy: promoted ? gate.pooled.candidateAccuracy : gate.pooled.championAccuracy,
    judgeAgreement: agreement ? { accuracy: agreement.accuracy.value, pairs: agreement.pairs } : null,
    margins:
      margins.length === 0
        ? null
        : {
            n: margins.length,
            p25: percentile(margins, 0.25),
            p50: percentile(margins, 0.5),
            p75: percentile(margins, 0.75),
          },
  });
  if (r === 1)
    table.unshift({
      round: 0,
      gate: "—",
      reasons: [],
      champion: 1,
      seconds: { traffic: 0, feedback: 0, round: 0, total: 0 },
      feedback: { corrections: 0, preferences: 0, ratings: 0, toJudge: 0 },
      memberAgreement: null,
      winRateVsV1: 0.5,
      winRateVsPrevious: 0.5,
      candidateWinRateVsChampion: null,
      ...figuresOf(v1Answers),
      pooledAccuracy: gate.pooled.championAccuracy,
      judgeAgreement: null,
      margins: null,
    });
  const row = table.at(-1)!;
  say(
    "round",
    `round ${r}: gate ${row.gate}${gate.reasons.length ? ` (${gate.reasons.join("; ")})` : ""}; champion v${championVersion}; win rate against v1 ${row.winRateVsV1.toFixed(2)}, all properties ${(row.allProperties * 100).toFixed(0)}%; ${(row.seconds.total / 60).toFixed(1)} min`,
  );
}

const pct = (value: number) => `${(value * 100).toFixed(0)}%`;
const fixed = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined ? "—" : value.toFixed(digits);
const lines = [
  `Probe set: ${demoProbeSet.replace(`${process.cwd()}/`, "")} (${v1Answers!.length} prompts no round sees), greedy, up to 160 tokens; the panel's word limit ${panelMaxWords}.`,
  "",
  "| round | gate | champion | min | win vs v1 | win vs previous | complete | safety-netting | no repetition | concise | all four | mean words | pooled accuracy | judge agreement (pairs) | judge margins p25 / p50 / p75 (n) |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...table
    .map((row) =>
      [
        row.round === 0 ? "v1" : String(row.round),
        row.gate,
        `v${row.champion}`,
        row.round === 0 ? "—" : (row.seconds.total / 60).toFixed(1),
        fixed(row.winRateVsV1),
        fixed(row.winRateVsPrevious),
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
    `round ${row.round}: ${(row.seconds.traffic / 60).toFixed(1)} min traffic, ${(row.seconds.round / 60).toFixed(1)} min round; feedback ${JSON.stringify(row.feedback)}; the members agree on ${pct(row.memberAgreement ?? 1)} of the traffic's pairs; the candidate's win rate against its champion ${fixed(row.candidateWinRateVsChampion)}${row.reasons.length ? `; gate: ${row.reasons.join("; ")}` : ""}`,
  );
if (values.json) await writeFile(values.json, `${JSON.stringify(table, null, 1)}\n`);
