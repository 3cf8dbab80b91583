// A whole alignment round on the tiny model: traffic and clinician feedback through the real gateway, then
// sampling, judging, TRL DPO, GGUF conversion and registration; then proof that training moved the model.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { championChangesOf, makeChampion } from "../../db/championChanges.ts";
import { findModelVersion, registerModelVersion } from "../../db/modelVersions.ts";
import { roundAnswersOf } from "../../db/roundAnswers.ts";
import { roundCandidatesOf, roundMetricsOf, roundPairsOf, roundPromptsOf } from "../../db/rounds.ts";
import { completions, type ModelVersionRow, type RoundRow, rounds } from "../../db/schema.ts";
import { modelLoader, NameServing } from "../../gateway/models/NameServing.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { AnswerCheckInput } from "../../trainer/eval/answerChecks.ts";
import { evaluateAnswers } from "../../trainer/eval/answerEvaluation.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { runEngineScript } from "../../trainer/pythonEngine.ts";
import { createRoundFor, driveRound, type RoundProgress, trainerSteps } from "../../trainer/RoundRunner.ts";
import { parseRoundConfig } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { testModels } from "../support/fixtures.ts";
import { startTestTelemetry } from "../support/otlpReceiver.ts";
import { sendRoundTraffic } from "../support/roundTraffic.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const SUFFIX = " Please consult a clinician.";
const questions = medicalQa().map((item) => item.q);
/** Questions the traffic never asks (it asks 0–48 and, after the round, 60). */
const probeQuestions = [...questions.slice(49, 60), ...questions.slice(61)];
const probeChecks: AnswerCheckInput[] = [
  { kind: "matches", pattern: "consult a clinician", name: "advises a clinician" },
  { kind: "noRepetition" },
  { kind: "maxWords", words: 40 },
  { kind: "endsWithSentence" },
];

let database: TestDatabase;
let gateway: TestGateway;
let champion: ModelVersionRow;
let round: RoundRow;
let serving: NameServing;
let exporting: Awaited<ReturnType<typeof startTestTelemetry>>;
const progress: RoundProgress[] = [];
const thumbsDown = new Set<string>();

beforeAll(async () => {
  exporting = await startTestTelemetry();
  const { ggufPath, hfDir, dir } = testModels();
  database = await createTestDatabase("postgres");
  gateway = await startGateway(
    { modelPath: ggufPath, parallel: 4, contextSize: 1024 },
    { databaseUrl: database.url },
  );
  champion = await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath,
    ggufSha256: await sha256OfFile(ggufPath),
    hfDir,
    status: "candidate",
  });
  await makeChampion(database.db, champion.id, {
    kind: "register",
    actor: "round.test",
    reason: "first champion",
  });
  champion = (await findModelVersion(database.db, champion.id))!;
  // The gateway follows the registry, as `medgate serve` does.
  serving = await NameServing.start({
    database,
    models: gateway.models,
    name: "tiny",
    given: { path: ggufPath, registeredBy: "round.test" },
    load: modelLoader({ kind: "node-llama-cpp" }, "tiny", {
      parallel: 4,
      contextSize: 1024,
      threads: 1,
      maxQueue: 64,
      gpu: false,
    }),
    log: () => {},
  });
  for (const id of await sendRoundTraffic(gateway, questions, SUFFIX)) thumbsDown.add(id);

  // Questions no traffic asks, as a probe set of the gate's answer evaluation.
  const probesPath = join(dir, "..", `probes-${process.pid}.jsonl`);
  await writeFile(
    probesPath,
    `${probeQuestions.map((q) => JSON.stringify({ conversation: [{ role: "user", content: q }] })).join("\n")}\n`,
  );
  const created = await createRoundFor(database.db, {
    modelName: "tiny",
    config: tinyRoundConfig({
      heldoutFraction: 0.3,
      minHeldout: 8,
      gate: { answers: { probeSets: [{ name: "unseen", path: probesPath, checks: probeChecks }] } },
    }),
    createdBy: "round.test",
  });
  expect(created.config.judge).toBe("pairwise");
  round = await driveRound(created.id, {
    database,
    workDir: join(dir, "..", `rounds-${process.pid}`),
    onProgress: (event) => progress.push(event),
  });
}, 600_000);

afterAll(async () => {
  await exporting?.[Symbol.asyncDispose]();
  await serving?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
});

describe("an alignment round", () => {
  it("goes through every step and registers a candidate with its lineage", async () => {
    expect(round.error).toBeNull();
    expect(round.state).toBe("promoted");
    const steps = [...new Set(progress.map((event) => event.step))];
    expect(steps).toEqual(["collecting", "sampling", "judging", "training", "converting", "evaluating"]);
    const candidate = (await findModelVersion(database.db, round.candidateVersionId!))!;
    expect(candidate).toMatchObject({
      name: "tiny",
      version: 2,
      status: "champion",
      parentId: champion.id,
      roundId: round.id,
      datasetSha256: round.datasetSha256,
    });
    expect(await sha256OfFile(candidate.ggufPath)).toBe(candidate.ggufSha256);
    expect(await sha256OfFile(round.datasetPath!)).toBe(round.datasetSha256);
    expect(candidate.metrics).toHaveProperty("train_loss");
    // The gate promoted the candidate: the round's starting model is retired, not deleted.
    expect((await findModelVersion(database.db, champion.id))!.status).toBe("retired");
    const seconds = round.stats.seconds as Record<string, number>;
    expect(Object.keys(seconds).sort()).toEqual([
      "collecting",
      "converting",
      "evaluating",
      "judging",
      "sampling",
      "training",
    ]);
  });

  it("takes each finished prompt once and samples K candidates per prompt", async () => {
    const prompts = await roundPromptsOf(database.db, round.id);
    expect(prompts).toHaveLength(49);
    expect(new Set(prompts.map((prompt) => prompt.promptHash)).size).toBe(49);
    expect(
      prompts.find((prompt) => JSON.stringify(prompt.messages).includes("Not for training")),
    ).toBeUndefined();
    const twice = prompts.filter((prompt) => prompt.completionIds.length === 2);
    expect(twice).toHaveLength(2);
    const candidates = await roundCandidatesOf(database.db, round.id);
    for (const prompt of prompts) {
      const own = candidates.filter((candidate) => candidate.promptId === prompt.id);
      expect(own.filter((candidate) => candidate.source === "sampled")).toHaveLength(2);
      expect(new Set(own.map((candidate) => candidate.seed).filter((seed) => seed !== null)).size).toBe(2);
    }
  });

  it("lets clinician judgements decide their prompts and the judge the rest", async () => {
    const pairs = await roundPairsOf(database.db, round.id);
    const bySource = (source: string) => pairs.filter((pair) => pair.source === source);
    expect(bySource("clinician-correction")).toHaveLength(44);
    for (const pair of bySource("clinician-correction"))
      expect(pair.chosen).toBe(`${pair.rejected.trimEnd()}${SUFFIX}`);
    expect(bySource("clinician-preference")).toHaveLength(2);
    expect(bySource("judge:pairwise").length).toBeGreaterThanOrEqual(1);
    const candidates = await roundCandidatesOf(database.db, round.id);
    const downTexts = candidates
      .filter((candidate) => candidate.completionId !== null && thumbsDown.has(candidate.completionId))
      .map((candidate) => candidate.text);
    expect(downTexts).toHaveLength(1);
    for (const pair of pairs) expect(downTexts).not.toContain(pair.chosen);
    const judged = round.stats.judged as unknown as {
      lengthBias: {
        pairs: number;
        chosenMeanChars: number;
        rejectedMeanChars: number;
        chosenLongerShare: number;
      };
      heldout: number;
      train: number;
    };
    // The corrections make chosen answers longer in most pairs, but only by a short sentence: recorded,
    // under the ratio that warns (trainer/pairs.test.ts covers the warning).
    expect(judged.lengthBias.pairs).toBe(pairs.length);
    expect(judged.lengthBias.chosenLongerShare).toBeGreaterThan(0.8);
    expect(judged.lengthBias.chosenMeanChars).toBeGreaterThan(judged.lengthBias.rejectedMeanChars);
    expect(round.stats.warnings).toBeUndefined();
    // The judge decided the clinicians' pairs first (no minimum set: measured, and used).
    const agreement = round.stats.judged!.agreement!;
    expect(agreement).toMatchObject({ kind: "pairwise", used: true, reasons: [] });
    expect(agreement.pairs).toBeGreaterThanOrEqual(45);
    expect(agreement.decisive).toBe(agreement.pairs);
    expect(agreement.accuracy.lower!).toBeLessThanOrEqual(agreement.accuracy.value!);
    expect(agreement.accuracy.upper!).toBeGreaterThanOrEqual(agreement.accuracy.value!);
    const lines = (await readFile(round.datasetPath!, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(pairs.length);
    expect(lines.filter((line) => line.split === "heldout")).toHaveLength(judged.heldout);
    expect(judged.heldout).toBeGreaterThanOrEqual(8);
  });

  it("stores TRL's metrics for every logged step", async () => {
    const metrics = await roundMetricsOf(database.db, round.id);
    expect(metrics.length).toBeGreaterThanOrEqual(5);
    for (const key of [
      "loss",
      "rewards/chosen",
      "rewards/rejected",
      "rewards/margins",
      "rewards/accuracies",
    ]) {
      expect(metrics.at(-1)!.values).toHaveProperty([key]);
    }
    expect(metrics.map((row) => row.step)).toEqual(
      [...new Set(metrics.map((row) => row.step))].sort((a, b) => a - b),
    );
  });

  it("trained the model the way the held-out preferences say (scored by node-llama-cpp on the GGUFs)", async () => {
    const candidate = (await findModelVersion(database.db, round.candidateVersionId!))!;
    const prompts = new Map(
      (await roundPromptsOf(database.db, round.id)).map((prompt) => [prompt.id, prompt]),
    );
    const heldOut = (await roundPairsOf(database.db, round.id)).filter(
      (pair) => pair.split === "heldout" && pair.source === "clinician-correction",
    );
    expect(heldOut.length).toBeGreaterThanOrEqual(6);
    const load = (modelPath: string) =>
      InferenceEngine.load({
        modelPath,
        modelName: "score",
        threads: 1,
        gpu: false,
        kvCache: "f32",
        parallel: 2,
      });
    const [policy, reference] = await Promise.all([load(candidate.ggufPath), load(champion.ggufPath)]);
    try {
      const beta = 0.1;
      let preferred = 0;
      let marginBefore = 0;
      let marginAfter = 0;
      for (const pair of heldOut) {
        const messages = prompts.get(pair.promptId)!.messages as ChatMessage[];
        const [after, before] = await Promise.all([
          policy.scoreAnswers(messages, [pair.chosen, pair.rejected]),
          reference.scoreAnswers(messages, [pair.chosen, pair.rejected]),
        ]);
        const reward = (i: number) => beta * (after[i]!.logprob - before[i]!.logprob);
        if (reward(0) > reward(1)) preferred++;
        marginBefore += before[0]!.logprob - before[1]!.logprob;
        marginAfter += after[0]!.logprob - after[1]!.logprob;
      }
      // Chance is half the pairs; with ≥ 6 pairs, all but one right has p < 0.11 by chance, all right p < 0.016.
      expect(preferred / heldOut.length).toBeGreaterThanOrEqual(0.8);
      expect(marginAfter / heldOut.length).toBeGreaterThan(marginBefore / heldOut.length + 1);
      console.info(
        `held-out: implicit reward prefers chosen on ${preferred}/${heldOut.length}; mean log-prob margin ${(marginBefore / heldOut.length).toFixed(3)} → ${(marginAfter / heldOut.length).toFixed(3)}`,
      );
    } finally {
      await Promise.all([policy[Symbol.asyncDispose](), reference[Symbol.asyncDispose]()]);
    }
  });

  it("converted faithfully: the merged checkpoint in transformers and its GGUF in node-llama-cpp agree", async () => {
    const candidate = (await findModelVersion(database.db, round.candidateVersionId!))!;
    const engine = await InferenceEngine.load({
      modelPath: candidate.ggufPath,
      modelName: "fidelity",
      threads: 1,
      gpu: false,
      kvCache: "f32",
      parallel: 1,
    });
    try {
      const messages: ChatMessage[] = [{ role: "user", content: "What should I do about a mild fever?" }];
      const text = "Rest, drink plenty of fluids and take paracetamol if needed. Please consult a clinician.";
      const promptIds = engine.promptTokensOf(messages);
      const [ours] = await engine.scoreAnswers(messages, [text]);
      const { stdout } = await runEngineScript("logprobs.py", [], {
        input: JSON.stringify({
          model_dir: candidate.hfDir,
          items: [{ prompt_ids: promptIds, continuation_ids: ours!.tokens }],
        }),
      });
      const reference = (JSON.parse(stdout) as { items: { token_logprobs: number[]; sum: number }[] })
        .items[0]!;
      expect(reference.token_logprobs).toHaveLength(ours!.tokens.length);
      const worst = Math.max(
        ...reference.token_logprobs.map((value, i) => Math.abs(value - ours!.tokenLogprobs[i]!)),
      );
      expect(worst).toBeLessThan(1e-3);
      expect(Math.abs(reference.sum - ours!.logprob)).toBeLessThan(5e-3);
    } finally {
      await engine[Symbol.asyncDispose]();
    }
  });

  it("traces the round: a span for each step, and for each part of the gate", async () => {
    await exporting.telemetry.forceFlush();
    const { receiver } = exporting;
    const [whole] = receiver.named("round tiny#1");
    const steps = receiver.spans
      .filter((span) => span.parentSpanId === whole!.spanId)
      .map((span) => span.name);
    // Every step but tuning, which this round's config leaves off (sft.test.ts runs it), and canary, which a round
    // without a canary section never enters (canaryGate.test.ts).
    expect(steps).toEqual(
      trainerSteps
        .filter((step) => step !== "tuning" && step !== "canary")
        .map((step) => `round step ${step}`),
    );
    const [gate] = receiver.named("round step evaluating");
    const parts = receiver.spans
      .filter((span) => span.parentSpanId === gate!.spanId)
      .map((span) => span.name);
    expect(parts).toEqual(["gate champion", "gate candidate", "gate safety", "gate heldout", "gate answers"]);
  });

  it("keeps the round in the database as it ran", async () => {
    const [row] = await database.db.select().from(rounds).where(eq(rounds.id, round.id));
    expect(row).toMatchObject({
      modelName: "tiny",
      number: 1,
      baseVersionId: champion.id,
      createdBy: "round.test",
    });
  });

  it("gated the candidate, promoted it with an audited report, and the gateway now answers with it", async () => {
    const gate = round.stats.gate as {
      passed: boolean;
      benchmarks: { name: string; n: number }[];
      heldoutPreferenceAccuracy: number;
      safety: { total: number };
      candidate: { evalRunId: string };
      champion: { evalRunId: string };
    };
    expect(gate.passed).toBe(true);
    expect(gate.benchmarks.map((benchmark) => benchmark.n)).toEqual(gate.benchmarks.map(() => 30));
    expect(gate.benchmarks.length).toBeGreaterThanOrEqual(7);
    expect(gate.heldoutPreferenceAccuracy).toBeGreaterThanOrEqual(0.8);
    expect(gate.safety.total).toBe(12);
    expect((await findModelVersion(database.db, champion.id))!.status).toBe("retired");
    const [change] = await championChangesOf(database.db, "tiny");
    expect(change).toMatchObject({
      kind: "promote",
      fromVersionId: champion.id,
      toVersionId: round.candidateVersionId,
      roundId: round.id,
      reason: "passed the benchmark gate",
    });
    expect(change!.gateReport).toMatchObject({ passed: true });
    // The gate report carries the judge's agreement with the clinicians, as the judging step measured it.
    expect(change!.gateReport!.judgeAgreement).toEqual(round.stats.judged!.agreement);
    expect((change!.gateReport!.settings as { protocol: string }).protocol).toBe("lm-eval");

    await waitUntil(() => gateway.models.get("tiny")?.versionId === round.candidateVersionId);
    const answer = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: questions[60]! }],
      max_tokens: 24,
    });
    await gateway.completionLog.flush();
    const [row] = await database.db.select().from(completions).where(eq(completions.id, answer.id));
    expect(row!.modelVersionId).toBe(round.candidateVersionId);
  });
});

describe("the gate's answer evaluation", () => {
  it("stores both versions' greedy answers to the held-out and probe prompts, with checks and verdicts", async () => {
    const rows = await roundAnswersOf(database.db, round.id);
    const heldout = (await roundPairsOf(database.db, round.id)).filter((pair) => pair.split === "heldout");
    expect(rows.filter((row) => row.probeSet === "heldout")).toHaveLength(heldout.length);
    const unseen = rows.filter((row) => row.probeSet === "unseen");
    expect(unseen.map((row) => row.messages[0]!.content)).toEqual(probeQuestions);
    for (const row of unseen) {
      expect(row).toMatchObject({ sample: 0, seed: null });
      expect(row.checks.map((check) => check.name)).toEqual([
        "advises a clinician",
        "no 4-word run more than 2 times",
        "at most 40 words",
        "ends with a complete sentence",
      ]);
      // The round's pairwise judge compared every pair of different answers in both orders.
      if (row.candidateText === row.championText) expect(row.verdict).toBe("tie");
      else expect(row.candidateFirst).toBeGreaterThanOrEqual(0);
      expect(["win", "tie", "loss"]).toContain(row.verdict);
    }
    // Greedy answers are the engine's own: the champion answers a probe prompt as it does alone.
    const engine = await InferenceEngine.load({
      modelPath: champion.ggufPath,
      modelName: "greedy",
      threads: 1,
      gpu: false,
      parallel: 1,
      contextSize: 1024,
    });
    try {
      const stream = await engine.startChat({
        messages: unseen[0]!.messages as ChatMessage[],
        maxTokens: 24,
        sampling: { temperature: 0 },
      });
      for await (const _ of stream) {
        // read to the end
      }
      expect((await stream.result).text).toBe(unseen[0]!.championText);
    } finally {
      await engine[Symbol.asyncDispose]();
    }
  });

  it("records every figure in the gate report", async () => {
    const answers = round.stats.gate!.answers!;
    expect(answers.passed).toBe(true);
    expect(answers.settings).toEqual({ samples: 1, temperature: null, maxTokens: 24, seed: 0 });
    expect(answers.judge).toMatch(/^pairwise \(local:tiny@v1\)$/u);
    expect(answers.probeSets.map((set) => set.name)).toEqual(["heldout", "unseen"]);
    const unseen = answers.probeSets[1]!;
    expect(unseen).toMatchObject({ prompts: probeQuestions.length, trainedOn: 0 });
    for (const check of unseen.checks) {
      expect(check.n).toBe(probeQuestions.length);
      expect(check.regressed).toBe(false);
      expect(check.mcnemar.pValue).toBeGreaterThan(0);
    }
    const overall = answers.overall!;
    expect(overall.wins + overall.ties + overall.losses).toBe(overall.comparisons);
    expect(overall.comparisons).toBe(unseen.prompts + answers.probeSets[0]!.prompts);
    expect(overall.lower).toBeLessThanOrEqual(overall.winRate);
    expect(overall.upper).toBeGreaterThanOrEqual(overall.winRate);
    expect(overall.lengthControlledWinRate).toBeGreaterThan(0);
    expect(overall.lengthControlledWinRate).toBeLessThan(1);
    expect(round.stats.gate!.seconds.answers).toBeGreaterThan(0);
    console.info(
      `answers: win/tie/loss ${overall.wins}/${overall.ties}/${overall.losses}, win rate ${overall.winRate.toFixed(3)} [${overall.lower.toFixed(3)}, ${overall.upper.toFixed(3)}], length-controlled ${overall.lengthControlledWinRate.toFixed(3)}; checks ${unseen.checks.map((c) => `${c.name} ${c.championPassed}→${c.candidatePassed}/${c.n}`).join(", ")}; ${round.stats.gate!.seconds.answers} s`,
    );
  });
});

describe("the answer evaluation with k samples", () => {
  it("has both versions answer each prompt k times with the seeds they share, the same on every run", async () => {
    // A judge GGUF of its own (here the tiny model's file) compares them.
    const answerJudge = { gguf: testModels().ggufPath };
    // A probe set with a conversation longer than the context: left out and counted.
    const longPath = join(testModels().dir, "..", `long-probes-${process.pid}.jsonl`);
    const ask = (content: string) => JSON.stringify({ conversation: [{ role: "user", content }] });
    await writeFile(longPath, `${ask(questions[61]!)}\n${ask(questions.join(" ").repeat(4))}\n`);
    const config = parseRoundConfig({
      ...round.config,
      gate: {
        ...(round.config.gate as object),
        answers: {
          samples: 2,
          temperature: 0.9,
          limit: 4,
          answerJudge,
          probeSets: [{ name: "long", path: longPath }],
        },
      },
    });
    const candidate = (await findModelVersion(database.db, round.candidateVersionId!))!;
    const context = {
      db: database.db,
      workDir: join(testModels().dir, "..", `rounds-${process.pid}`),
      onProgress: () => {},
      signal: new AbortController().signal,
      env: {},
    };
    const run = () => evaluateAnswers(round, config, { candidate, champion }, config.gate.policy, context);
    const first = await run();
    expect(first.figures.settings).toEqual({ samples: 2, temperature: 0.9, maxTokens: 24, seed: 0 });
    expect(first.figures.judge).toBe(`pairwise (local:answer-judge:${answerJudge.gguf})`);
    expect(first.rows).toHaveLength(2 * 4 + 2);
    for (const [i, row] of first.rows.entries()) expect(row.sample).toBe(i % 2);
    expect(first.figures.probeSets.find((set) => set.name === "long")).toMatchObject({
      prompts: 1,
      tooLong: 1,
    });
    // A prompt's two samples have their own seeds; both versions answered each with the same one.
    const seeds = first.rows.map((row) => row.seed);
    expect(new Set(seeds).size).toBe(seeds.length);
    const greedy = (await roundAnswersOf(database.db, round.id)).filter((row) => row.probeSet === "heldout");
    const sampled = first.rows.filter(
      (row) => row.probeSet === "heldout" && row.championText !== greedy[row.promptIndex]!.championText,
    );
    expect(sampled.length).toBeGreaterThan(0);
    // The same seeds give the same answers.
    const second = await run();
    expect(second.rows.map((row) => [row.championText, row.candidateText])).toEqual(
      first.rows.map((row) => [row.championText, row.candidateText]),
    );
    expect(first.figures.overall!.comparisons).toBe(10);
    expect(first.figures.overall!.prompts).toBe(5);
  });
});

describe("the admin dashboard", () => {
  it.skipIf(!chromiumPath)(
    `renders versions, the round's DPO curves and its gate report as charts in Chromium${browserNote}`,
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(`${gateway.url}/admin`);
        expect(page.url()).toMatch(/\/admin\/login$/u);
        // A clinician key is refused; the admin key signs in.
        const clinicianKey = (await createApiKey(database.db, { name: "Dr. Tan", role: "clinician" })).secret;
        await page.fill("#key", clinicianKey);
        await page.click("button[type=submit]");
        expect(await page.textContent("main")).toContain("The dashboard needs an admin key");
        await page.fill("#key", gateway.apiKey);
        await page.click("button[type=submit]");
        await page.waitForURL(/\/admin$/u);
        const text = (await page.textContent("main")) ?? "";
        expect(text).toContain("v2");
        expect(text).toContain("promoted");
        expect(text).toContain("passed the benchmark gate");
        expect(
          await page.locator(`tr[data-version-id="${round.candidateVersionId}"] .status-champion`).count(),
        ).toBe(1);
        const roundCard = page.locator(`article[data-round-id="${round.id}"]`);
        expect(await roundCard.locator("svg.chart polyline").count()).toBeGreaterThanOrEqual(5);
        expect(
          await roundCard.locator('[data-gate="passed"] svg.chart circle').count(),
        ).toBeGreaterThanOrEqual(8);
        // The judge's agreement with the clinicians: on the round's card, and charted over rounds.
        expect(await roundCard.locator('[data-agreement="used"]').textContent()).toMatch(
          /Judge vs clinicians on \d+ pairs: accuracy \d\.\d\d \[/u,
        );
        const agreementChart = page.locator('svg[aria-label^="Judge accuracy on clinician pairs by round"]');
        expect(await agreementChart.locator("circle").count()).toBe(1);
        await mkdir("test-artifacts", { recursive: true });
        await page.screenshot({ path: "test-artifacts/admin-dashboard.png", fullPage: true });
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
