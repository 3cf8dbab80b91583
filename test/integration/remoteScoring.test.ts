// Scoring on a server equals scoring here. A real listening gateway (f32 KV cache, registered versions by NAME@vN)
// and the trainer's RemoteScorer, against InferenceEngine on the same GGUFs: continuations, answers, benchmark
// items, both judges, and a round's judging and gate steps run once each way; then the errors a scorer meets.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeChampion } from "../../db/championChanges.ts";
import { createDatabase } from "../../db/createDatabase.ts";
import { findModelVersion, registerModelVersion } from "../../db/modelVersions.ts";
import {
  advanceRound,
  createRound,
  findRound,
  roundCandidatesOf,
  roundPairsOf,
  roundPromptsOf,
  storeCandidates,
  storeRoundPrompts,
} from "../../db/rounds.ts";
import { evalResults, evalRuns, type ModelVersionRow, type RoundRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { defaultSuitePath, suiteItems } from "../../trainer/eval/evalRun.ts";
import { accuracies, type PromptSettings, scoreItems } from "../../trainer/eval/mcqScoring.ts";
import { medicalQa, writeFixtures } from "../../trainer/fixtures.ts";
import { judgeFor } from "../../trainer/judges/judgeFor.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import { parseRoundConfig, type RoundConfig } from "../../trainer/roundConfig.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { engineScorer } from "../../trainer/scoring/engineScorer.ts";
import { RemoteScorer } from "../../trainer/scoring/RemoteScorer.ts";
import type { ContinuationLikelihood } from "../../trainer/scoring/Scorer.ts";
import { ScorerRequestError, ScoringEndpoint } from "../../trainer/scoring/ScoringEndpoint.ts";
import { gateCandidate } from "../../trainer/steps/evaluate.ts";
import { judgeCandidates } from "../../trainer/steps/judge.ts";
import { RoundStepError, type StepContext, scoringEndpointFor } from "../../trainer/steps/stepContext.ts";
import { loadTinyEngine, testModels } from "../support/fixtures.ts";
import { sendRoundTraffic } from "../support/roundTraffic.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const keyVariable = "MEDGATE_TEST_SCORER_KEY";
const engineSettings = { contextSize: 1024, parallel: 2, kvCache: "f32" } as const;
const corpus = medicalQa();

let gateway: TestGateway;
let local: InferenceEngine;
let endpoint: ScoringEndpoint;
let remote: RemoteScorer;
let workDir: string;
/** name → [v1: the fixture, champion; v2: the variant, a candidate with v1 as parent] */
const versions = new Map<string, [ModelVersionRow, ModelVersionRow]>();
/** The largest |remote − local| per log-likelihood (token and sum) seen, by test. */
const worst: Record<string, number> = {};

/** The tiny model pre-trained for fewer steps: other weights, the same tokenizer; written once per fixture. */
async function variantModel(): Promise<string> {
  const dir = `${testModels().dir}-steps100`;
  if (!existsSync(join(dir, "manifest.json"))) await writeFixtures(dir, { steps: 100 });
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { gguf: string };
  return join(dir, manifest.gguf);
}

beforeAll(async () => {
  const { ggufPath } = testModels();
  const variant = await variantModel();
  gateway = await startGateway({ modelPath: ggufPath, ...engineSettings }, { versions: true });
  local = await loadTinyEngine(engineSettings);
  endpoint = new ScoringEndpoint({ url: `${gateway.url}/v1/`, apiKey: gateway.apiKey, parallel: 2 });
  remote = await RemoteScorer.open(endpoint, "tiny");
  workDir = await mkdtemp(join(tmpdir(), "medgate-remote-scoring-"));
  const { db } = gateway.database;
  for (const name of ["loc", "rem"]) {
    const first = await registerModelVersion(db, {
      name,
      ggufPath,
      ggufSha256: await sha256OfFile(ggufPath),
      status: "candidate",
    });
    await makeChampion(db, first.id, { kind: "register", actor: "remoteScoring.test", reason: "first" });
    const second = await registerModelVersion(db, {
      name,
      ggufPath: variant,
      ggufSha256: await sha256OfFile(variant),
      parentId: first.id,
      status: "candidate",
    });
    versions.set(name, [(await findModelVersion(db, first.id))!, second]);
  }
}, 300_000);

afterAll(async () => {
  console.info(`largest |remote − local| per log-likelihood: ${JSON.stringify(worst)}`);
  await local?.[Symbol.asyncDispose]();
  await gateway?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The same tokens, and log-likelihoods within 1e-4 per token and per sum; records the largest difference. */
function expectSameScores(label: string, ours: ContinuationLikelihood[], theirs: ContinuationLikelihood[]) {
  expect(ours).toHaveLength(theirs.length);
  let largest = 0;
  ours.forEach((score, i) => {
    const reference = theirs[i]!;
    expect([...score.tokens]).toEqual([...reference.tokens]);
    score.tokenLogprobs.forEach((value, k) => {
      largest = Math.max(largest, Math.abs(value - reference.tokenLogprobs[k]!));
    });
    largest = Math.max(largest, Math.abs(score.logprob - reference.logprob));
  });
  expect(largest).toBeLessThan(1e-4);
  worst[label] = Math.max(worst[label] ?? 0, largest);
}

describe("a remote scorer against the engine on the same GGUF", () => {
  it("scores text continuations tokenized as lm-evaluation-harness does", async () => {
    const cases: [string, string[]][] = [
      ["Question: Which organ produces insulin?\nAnswer:", [" the pancreas", " the liver", ""]],
      ["Is a fever of 38 C dangerous? Answer: ", ["yes", "no", "maybe"]],
      ["<|im_start|>user\nWhat is a normal heart rate?<|im_end|>\n", ["<|im_start|>assistant\n60 to 100"]],
    ];
    for (const [prompt, continuations] of cases) {
      expectSameScores(
        "text",
        await remote.scoreContinuations(prompt, continuations),
        await engineScorer(local).scoreContinuations(prompt, continuations),
      );
    }
  });

  it("scores continuations after a conversation's open assistant turn", async () => {
    const conversations: ChatMessage[][] = [
      [{ role: "user", content: "Which organ produces insulin?\nA. Pancreas\nB. Liver\nAnswer:" }],
      [
        { role: "system", content: "You are a careful clinician." },
        { role: "user", content: corpus[0]!.q },
        { role: "assistant", content: corpus[0]!.a },
        { role: "user", content: corpus[1]!.q },
      ],
    ];
    for (const messages of conversations) {
      expectSameScores(
        "chat",
        await remote.scoreContinuations(messages, ["A", "B", " High blood pressure"]),
        await engineScorer(local).scoreContinuations(messages, ["A", "B", " High blood pressure"]),
      );
    }
  });

  it("scores answers with their end-of-turn token, after one turn or several, or replacing a prefill", async () => {
    const answers = [corpus[2]!.a, corpus[3]!.a, "", "Yes."];
    const conversations: ChatMessage[][] = [
      [{ role: "user", content: corpus[2]!.q }],
      [
        { role: "user", content: corpus[4]!.q },
        { role: "assistant", content: corpus[4]!.a },
        { role: "user", content: corpus[2]!.q },
      ],
      [
        { role: "user", content: corpus[2]!.q },
        { role: "assistant", content: "Well," },
      ],
    ];
    for (const messages of conversations) {
      const ours = await remote.scoreAnswers(messages, answers);
      expectSameScores("answers", ours, await engineScorer(local).scoreAnswers(messages, answers));
      // The end-of-turn token is scored: an answer that stops is told from one that goes on.
      expect(ours[0]!.tokens.at(-1)).toBe(local.model.tokens.eot ?? local.model.tokens.eos);
    }
  });

  it("truncates a long prompt on the left as the engine does, and refuses it the same way without truncation", async () => {
    const long = `${"The patient reports a dull headache and some nausea since the morning. ".repeat(120)}Answer:`;
    const continuations = [" migraine", " tension headache"];
    expect(local.tokenize(long).length).toBeGreaterThan(1024);
    expectSameScores(
      "truncated",
      await remote.scoreContinuations(long, continuations, { truncateLeft: true }),
      await engineScorer(local).scoreContinuations(long, continuations, { truncateLeft: true }),
    );
    await expect(remote.scoreContinuations(long, continuations)).rejects.toThrow(ContextLengthExceededError);
    await expect(engineScorer(local).scoreContinuations(long, continuations)).rejects.toThrow(
      ContextLengthExceededError,
    );
    const messages: ChatMessage[] = [{ role: "user", content: long }];
    await expect(remote.scoreAnswers(messages, ["Rest."])).rejects.toThrow(ContextLengthExceededError);
    await expect(local.scoreAnswers(messages, ["Rest."])).rejects.toThrow(ContextLengthExceededError);
  });

  it("generates the token a server wants when it refuses echo with max_tokens 0, as vLLM does", async () => {
    await using standIn = await serverStandIn({ refuseZeroTokens: true });
    const generating = new ScoringEndpoint({ url: standIn.url, apiKey: gateway.apiKey });
    const scorer = await RemoteScorer.open(generating, "tiny");
    const messages: ChatMessage[] = [{ role: "user", content: corpus[5]!.q }];
    expectSameScores(
      "generating",
      await scorer.scoreAnswers(messages, [corpus[5]!.a, corpus[6]!.a]),
      await local.scoreAnswers(messages, [corpus[5]!.a, corpus[6]!.a]),
    );
    expect(generating.generatedTokens).toBe(1);
  });

  it("takes the context from /tokenizer_info when /tokenize does not say it", async () => {
    await using standIn = await serverStandIn({ hideContext: true });
    const scorer = await RemoteScorer.open(
      new ScoringEndpoint({ url: standIn.url, apiKey: gateway.apiKey }),
      "tiny",
    );
    const long = `${"A rash that does not fade under a glass needs urgent care. ".repeat(120)}Answer:`;
    expectSameScores(
      "tokenizer_info",
      await scorer.scoreContinuations(long, [" yes", " no"], { truncateLeft: true }),
      await engineScorer(local).scoreContinuations(long, [" yes", " no"], { truncateLeft: true }),
    );
    expect(standIn.paths).toContain("/tokenizer_info?model=tiny");
  });
});

/**
 * The gateway behind a stand-in for what other servers do differently (vLLM itself needs a GPU): with
 * `refuseZeroTokens`, an echo of max_tokens 0 gets vLLM's 400; with `hideContext`, /tokenize answers lack
 * max_model_len. Everything else is passed through.
 */
async function serverStandIn(options: { refuseZeroTokens?: boolean; hideContext?: boolean }) {
  const paths: string[] = [];
  const proxy = createHttpServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    paths.push(request.url ?? "");
    if (options.refuseZeroTokens && request.url === "/v1/completions" && JSON.parse(body).max_tokens === 0) {
      response.writeHead(400, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          object: "error",
          message: "max_tokens must be at least 1, got 0.",
          type: "BadRequestError",
          param: null,
          code: 400,
        }),
      );
      return;
    }
    const answer = await fetch(`${gateway.url}${request.url}`, {
      method: request.method,
      headers: { "content-type": "application/json", authorization: request.headers.authorization ?? "" },
      body: request.method === "POST" ? body : undefined,
    });
    let text = await answer.text();
    if (options.hideContext && request.url === "/tokenize" && answer.ok) {
      const { max_model_len: _, ...rest } = JSON.parse(text) as Record<string, unknown>;
      text = JSON.stringify(rest);
    }
    response.writeHead(answer.status, { "content-type": "application/json" });
    response.end(text);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

describe("benchmark items scored remotely", () => {
  it.each([
    ["lm-eval, zero-shot", { protocol: "lm-eval", shots: 0 }, 8],
    ["lm-eval, one-shot", { protocol: "lm-eval", shots: 1 }, 2],
    ["med42: chat template, answer texts", { protocol: "med42", shots: 0 }, 3],
  ] as const)("%s: the same log-likelihoods, predictions and accuracies", async (_label, settings, limit) => {
    const { scored, examples } = await suiteItems(defaultSuitePath, { ...settings, limit });
    const ours = await scoreItems(remote, scored, examples, settings);
    const theirs = await scoreItems(engineScorer(local), scored, examples, settings);
    let largest = 0;
    ours.forEach((result, i) => {
      const reference = theirs[i]!;
      expect({ ...result, logprobs: [] }).toEqual({ ...reference, logprobs: [] });
      result.logprobs.forEach((value, k) => {
        largest = Math.max(largest, Math.abs(value - reference.logprobs[k]!));
      });
    });
    expect(largest).toBeLessThan(1e-4);
    worst[`benchmarks ${settings.protocol}/${settings.shots}-shot`] = largest;
    expect(accuracies(ours)).toEqual(accuracies(theirs));
  });
});

/** A round config for the tiny model; with `remote`, scoring on the gateway with the key from `keyVariable`. */
function roundConfig(options: { remote: boolean; judge?: "pairwise" | "implicit-reward" }): RoundConfig {
  return parseRoundConfig(
    tinyRoundConfig({
      judge: options.judge ?? "pairwise",
      heldoutFraction: 0.4,
      minHeldout: 2,
      inference: { threads: 1, parallel: 2, contextSize: 1024, gpu: "cpu" },
      gate: { limit: 6 },
      ...(options.remote ? { scorer: { url: gateway.url, apiKeyEnv: keyVariable, parallel: 2 } } : {}),
    }),
  );
}

function stepContext(): StepContext {
  return {
    db: gateway.database.db,
    workDir,
    onProgress: () => {},
    signal: new AbortController().signal,
    env: { [keyVariable]: gateway.apiKey },
  };
}

describe("judges scoring remotely", () => {
  const conversation: ChatMessage[] = [{ role: "user", content: corpus[7]!.q }];
  const answers = [corpus[7]!.a, corpus[8]!.a, "I am not sure, please ask a clinician."];

  it.each([
    ["pairwise", "v1", "pairwise (remote:rem@v1 at "],
    ["implicit-reward", "v2", "implicit-reward (π_k rem@v2 at "],
  ] as const)("%s: the same scores as loading the GGUFs here", async (judge, base, description) => {
    const [first, second] = versions.get("rem")!;
    const round = { baseVersionId: (base === "v1" ? first : second).id } as RoundRow;
    const context = stepContext();
    await using here = await judgeFor(round, roundConfig({ remote: false, judge }), context);
    await using there = await judgeFor(round, roundConfig({ remote: true, judge }), context);
    expect(there.describe()).toContain(`${description}${gateway.url}`);
    expect(here.describe()).not.toContain("http");
    const ours = await there.score(conversation, answers);
    const theirs = await here.score(conversation, answers);
    const largest = Math.max(...ours.map((value, i) => Math.abs(value - theirs[i]!)));
    expect(largest).toBeLessThan(1e-4);
    worst[`judge ${judge}`] = largest;
    // The variant is another model: its reward against its parent is not zero.
    if (judge === "implicit-reward") expect(Math.max(...ours.map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe("a round's judging and gate steps with `scorer` set", () => {
  /** A round in `judging` with the same prompts and candidates for either name. */
  async function roundToJudge(name: string, config: RoundConfig): Promise<RoundRow> {
    const { db } = gateway.database;
    const [first] = versions.get(name)!;
    const round = await createRound(db, {
      modelName: name,
      baseVersionId: first.id,
      config: config as unknown as Record<string, unknown>,
      since: null,
      until: new Date(),
      createdBy: "remoteScoring.test",
    });
    const items = corpus.slice(10, 18);
    await storeRoundPrompts(
      db,
      round.id,
      items.map((item, i) => ({
        promptHash: `prompt-${i}`,
        messages: [{ role: "user", content: item.q }],
        completionIds: [],
      })),
      {},
    );
    const prompts = await roundPromptsOf(db, round.id);
    await storeCandidates(
      db,
      prompts.flatMap((prompt, i) =>
        [items[i]!.a, corpus[20 + i]!.a].map((text, index) => ({
          roundId: round.id,
          promptId: prompt.id,
          index,
          source: "sampled",
          text,
        })),
      ),
    );
    await advanceRound(db, round.id, "sampling", "judging");
    return (await findRound(db, round.id))!;
  }

  async function judgeAndGate(name: string, remoteScoring: boolean): Promise<RoundRow> {
    const { db } = gateway.database;
    const config = roundConfig({ remote: remoteScoring });
    const round = await roundToJudge(name, config);
    const context = stepContext();
    await judgeCandidates(round, config, context);
    await advanceRound(db, round.id, "training", "evaluating", {
      candidateVersionId: versions.get(name)![1].id,
    });
    await gateCandidate((await findRound(db, round.id))!, config, context);
    return (await findRound(db, round.id))!;
  }

  it("stores the same pairs, judging stats and gate report as a round scoring here", async () => {
    const { db } = gateway.database;
    const started = performance.now();
    const here = await judgeAndGate("loc", false);
    const localSeconds = (performance.now() - started) / 1000;
    const there = await judgeAndGate("rem", true);
    const remoteSeconds = (performance.now() - started) / 1000 - localSeconds;
    console.info(
      `judging + gate: ${localSeconds.toFixed(1)} s here, ${remoteSeconds.toFixed(1)} s on the gateway`,
    );
    expect(here.error).toBeNull();
    expect(there.state).toBe(here.state);
    expect(["promoted", "rejected"]).toContain(there.state);

    const { judge: localJudge, ...localJudged } = here.stats.judged as Record<string, unknown>;
    const { judge: remoteJudge, ...remoteJudged } = there.stats.judged as Record<string, unknown>;
    expect(localJudge).toBe("pairwise (local:loc@v1)");
    expect(remoteJudge).toBe(`pairwise (remote:rem@v1 at ${gateway.url})`);
    // The judge's agreement with the clinicians: the same figures, from the judge each names.
    const describedAs = (judged: Record<string, unknown>) => {
      const { agreement, ...rest } = judged as { agreement: { judge: string } };
      const { judge, ...figures } = agreement;
      return { judge, rest: { ...rest, agreement: figures } };
    };
    expect(describedAs(localJudged).judge).toBe(localJudge);
    expect(describedAs(remoteJudged).judge).toBe(remoteJudge);
    expect(describedAs(remoteJudged).rest).toEqual(describedAs(localJudged).rest);
    const [localPairs, remotePairs] = [await roundPairsOf(db, here.id), await roundPairsOf(db, there.id)];
    expect(remotePairs.length).toBeGreaterThanOrEqual(4);
    expect(remotePairs.map(({ chosen, rejected, split }) => ({ chosen, rejected, split }))).toEqual(
      localPairs.map(({ chosen, rejected, split }) => ({ chosen, rejected, split })),
    );
    for (const [i, pair] of remotePairs.entries())
      expect(Math.abs(pair.margin! - localPairs[i]!.margin!)).toBeLessThan(1e-4);
    const [localScores, remoteScores] = [
      await roundCandidatesOf(db, here.id),
      await roundCandidatesOf(db, there.id),
    ];
    for (const [i, row] of remoteScores.entries())
      expect(Math.abs(row.score! - localScores[i]!.score!)).toBeLessThan(1e-4);

    const withoutRuns = (gate: Record<string, unknown>) => {
      const { candidate: _, champion: __, seconds: ___, judgeAgreement, answers, ...rest } = gate;
      const { judge: ____, ...figures } = judgeAgreement as Record<string, unknown>;
      const { judge: _____, ...answerFigures } = answers as Record<string, unknown>;
      return { ...rest, judgeAgreement: figures, answers: answerFigures };
    };
    const localGate = here.stats.gate as Record<string, unknown>;
    const remoteGate = there.stats.gate as Record<string, unknown>;
    expect(withoutRuns(remoteGate)).toEqual(withoutRuns(localGate));
    // The answers are generated here either way; the round's judge compares them where it scores.
    expect((remoteGate.answers as { judge: string }).judge).toBe(remoteJudge);
    expect((localGate.answers as { judge: string }).judge).toBe(localJudge);
    expect(remoteGate.heldoutPreferenceAccuracy).not.toBeNull();

    // The eval runs say where they were scored, and their per-question scores agree.
    const run = async (gate: Record<string, unknown>, side: "candidate" | "champion") => {
      const { evalRunId } = gate[side] as { evalRunId: string };
      const [row] = await db.select().from(evalRuns).where(eq(evalRuns.id, evalRunId));
      const results = await db.select().from(evalResults).where(eq(evalResults.runId, evalRunId));
      const key = (r: { benchmark: string; questionId: string }) => `${r.benchmark}/${r.questionId}`;
      return { row: row!, results: new Map(results.map((result) => [key(result), result.logprobs])) };
    };
    for (const side of ["candidate", "champion"] as const) {
      const [ours, theirs] = [await run(remoteGate, side), await run(localGate, side)];
      const version = side === "candidate" ? 2 : 1;
      expect(ours.row.settings.scorer).toEqual({ url: gateway.url, model: `rem@v${version}` });
      expect(ours.row.ggufPath).toBeNull();
      expect(theirs.row.settings.scorer).toBeUndefined();
      expect(ours.results.size).toBe(theirs.results.size);
      let largest = 0;
      for (const [key, logprobs] of ours.results) {
        logprobs.forEach((value, k) => {
          largest = Math.max(largest, Math.abs(value - theirs.results.get(key)![k]!));
        });
      }
      expect(largest).toBeLessThan(1e-4);
      worst[`gate ${side}`] = largest;
    }
  });
});

describe("a whole round with `scorer` set", () => {
  it("judges and gates the candidate it trained on the gateway, which loads it by NAME@vN", async () => {
    const { db } = gateway.database;
    const { ggufPath, hfDir } = testModels();
    const champion = await registerModelVersion(db, {
      name: "tiny",
      ggufPath,
      ggufSha256: await sha256OfFile(ggufPath),
      hfDir,
      status: "candidate",
    });
    await makeChampion(db, champion.id, { kind: "register", actor: "remoteScoring.test", reason: "first" });
    await sendRoundTraffic(
      gateway,
      corpus.map((item) => item.q),
      " Please consult a clinician.",
    );
    const created = await createRoundFor(db, {
      modelName: "tiny",
      config: tinyRoundConfig({
        heldoutFraction: 0.3,
        minHeldout: 8,
        gate: { limit: 6 },
        scorer: { url: `${gateway.url}/v1`, apiKeyEnv: keyVariable, parallel: 2 },
      }),
      createdBy: "remoteScoring.test",
    });
    const round = await driveRound(created.id, {
      database: gateway.database,
      workDir,
      env: { [keyVariable]: gateway.apiKey },
    });
    expect(round.error).toBeNull();
    expect(["promoted", "rejected"]).toContain(round.state);
    expect((round.stats.judged as { judge: string }).judge).toBe(
      `pairwise (remote:tiny@v1 at ${gateway.url})`,
    );
    const gate = round.stats.gate as unknown as {
      candidate: { evalRunId: string; version: number };
      champion: { evalRunId: string };
      safety: { total: number };
      heldoutPreferenceAccuracy: number | null;
      settings: PromptSettings;
    };
    expect(gate.candidate.version).toBe(2);
    expect(gate.safety.total).toBe(12);
    expect(gate.heldoutPreferenceAccuracy).not.toBeNull();
    const [candidateRun] = await db.select().from(evalRuns).where(eq(evalRuns.id, gate.candidate.evalRunId));
    expect(candidateRun!.settings.scorer).toEqual({ url: gateway.url, model: "tiny@v2" });
    // The candidate's results as the gateway scored them equal scoring its GGUF here.
    const candidate = (await findModelVersion(db, round.candidateVersionId!))!;
    const { scored, examples } = await suiteItems(defaultSuitePath, { ...gate.settings, limit: 6 });
    await using engine = await loadTinyEngine({ ...engineSettings, modelPath: candidate.ggufPath });
    const here = await scoreItems(engineScorer(engine), scored, examples, gate.settings);
    const stored = new Map(
      (await db.select().from(evalResults).where(eq(evalResults.runId, gate.candidate.evalRunId))).map(
        (row) => [`${row.benchmark}/${row.questionId}`, row],
      ),
    );
    expect(stored.size).toBe(here.length);
    let largest = 0;
    for (const result of here) {
      const row = stored.get(`${result.benchmark}/${result.questionId}`)!;
      expect(row.predicted).toBe(result.predicted);
      result.logprobs.forEach((value, k) => {
        largest = Math.max(largest, Math.abs(value - row.logprobs[k]!));
      });
    }
    expect(largest).toBeLessThan(1e-4);
    worst["round candidate"] = largest;
  });
});

describe("medgate eval run --scorer", () => {
  const bin = new URL("../../bin/medgate.js", import.meta.url).pathname;
  const medgate = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (data) => (stdout += data));
      child.stderr.on("data", (data) => (stderr += data));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });

  it("scores a model of the server and stores the run with the server and model id", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-eval-scorer-"));
    try {
      const args = ["eval", "run", "--scorer", `${gateway.url}/v1`, "--model", "tiny", "--limit", "2"];
      const where = ["--data-dir", dataDir];
      const keyless = await medgate([...args, "--scorer-key-env", keyVariable, ...where], process.env);
      expect(keyless.code).toBe(2);
      expect(keyless.stderr).toContain(`--scorer-key-env names ${keyVariable}, which is not set.`);
      const env = { ...process.env, [keyVariable]: gateway.apiKey };
      const scored = await medgate([...args, "--scorer-key-env", keyVariable, ...where], env);
      expect(scored.code, scored.stderr).toBe(0);
      expect(scored.stderr).toContain(`scoring tiny at ${gateway.url} on `);
      expect(scored.stderr).toContain("a model of the scorer, unregistered");
      const handle = await createDatabase({ dataDir });
      const [stored] = await handle.db.select().from(evalRuns);
      await handle[Symbol.asyncDispose]();
      expect(stored).toMatchObject({ modelVersionId: null, ggufPath: null, status: "finished" });
      expect(stored!.settings.scorer).toEqual({ url: gateway.url, model: "tiny" });
      const settings = { protocol: "lm-eval", shots: 0 } as const;
      const { scored: items, examples } = await suiteItems(defaultSuitePath, { ...settings, limit: 2 });
      const here = accuracies(await scoreItems(engineScorer(local), items, examples, settings));
      expect(stored!.summary).toEqual(here);
      expect(scored.stdout).toContain(`pooled\t${here.pooled.n}\t${here.pooled.acc.toFixed(4)}`);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("what a remote scorer cannot do", () => {
  const messages: ChatMessage[] = [{ role: "user", content: "Is 38 C a fever?" }];

  it("names the URL when nothing listens there", async () => {
    const port = await closedPort();
    const error = await failure(
      RemoteScorer.open(new ScoringEndpoint({ url: `http://127.0.0.1:${port}` }), "tiny"),
    );
    expect(error).toBeInstanceOf(ScorerRequestError);
    expect(error.message).toMatch(
      new RegExp(
        `^The scorer at http://127\\.0\\.0\\.1:${port}/tokenize could not be reached: fetch failed \\(.*ECONNREFUSED`,
        "u",
      ),
    );
  });

  it("passes the server's 401 on without a key, and its 404 for a model it does not have", async () => {
    const keyless = await failure(RemoteScorer.open(new ScoringEndpoint({ url: gateway.url }), "tiny"));
    expect(keyless.message).toMatch(
      new RegExp(`^The scorer at ${gateway.url}/tokenize answered 401 for model "tiny": .+`, "u"),
    );
    const unknown = await failure(RemoteScorer.open(endpoint, "rem@v9"));
    expect(unknown.message).toBe(
      `The scorer at ${gateway.url}/tokenize answered 404 for model "rem@v9": The model \`rem@v9\` does not exist.`,
    );
    expect((unknown as ScorerRequestError).answer).toMatchObject({ status: 404, param: "model" });
  });

  it("gives up on a server that never answers, and stops when the caller aborts", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createTcpServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as { port: number };
      const slow = new ScoringEndpoint({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 });
      const timedOut = await failure(new RemoteScorer(slow, "tiny").scoreAnswers(messages, ["Yes."]));
      expect(timedOut.message).toBe(
        `The scorer at http://127.0.0.1:${port}/tokenize did not answer within 0.3 s.`,
      );
      const controller = new AbortController();
      const patient = new ScoringEndpoint({ url: `http://127.0.0.1:${port}` });
      const pending = new RemoteScorer(patient, "tiny").scoreAnswers(messages, ["Yes."], {
        signal: controller.signal,
      });
      controller.abort(new Error("stopped by the round"));
      expect((await failure(pending)).message).toBe("stopped by the round");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("fails a round's step before scoring when the key variable is unset or the server is away", async () => {
    const config = roundConfig({ remote: true });
    expect(() => scoringEndpointFor(config.scorer!, {})).toThrow(
      new RoundStepError(`The scorer's key variable ${keyVariable} is not set.`),
    );
    const port = await closedPort();
    const away = { ...config, scorer: { ...config.scorer!, url: `http://127.0.0.1:${port}` } };
    const round = { baseVersionId: versions.get("rem")![0].id } as RoundRow;
    const error = await failure(judgeFor(round, away, stepContext()));
    expect(error.message).toContain(`The scorer at http://127.0.0.1:${port}/tokenize could not be reached`);
  });
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** A loopback port nothing listens on (one just released). */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
