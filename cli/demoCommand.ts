// `medgate demo`: the whole loop on the embedded database and the demo model, each step printed: serve,
// patient traffic, clinician feedback, an alignment round, the benchmark gate, the promotion, the hot swap.
import { medicalQa } from "../trainer/fixtures.ts";
import "disposablestack/auto";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, join, resolve } from "node:path";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { createApiKey } from "../db/apiKeys.ts";
import { registerChampion } from "../db/championChanges.ts";
import { createDatabase, type DatabaseHandle } from "../db/createDatabase.ts";
import { findChampion, findModelVersion } from "../db/modelVersions.ts";
import { findRound } from "../db/rounds.ts";
import { completions, type ModelVersionRow, type RoundRow } from "../db/schema.ts";
import {
  type EngineSettings,
  type LoadModel,
  modelLoader,
  NameServing,
} from "../gateway/models/NameServing.ts";
import { type Gateway, type GatewayOptions, openGateway } from "../gateway/openGateway.ts";
import { sha256OfFile } from "../inference/fileDigest.ts";
import { resolveModelSource } from "../inference/modelSource.ts";
import { mapConcurrent } from "../trainer/concurrency.ts";
import {
  type AnswerProbesOptions,
  answerProbes,
  readProbeSet,
  summarizeProbeAnswers,
} from "../trainer/probeAnswers.ts";
import { engineDir, runEngineScript } from "../trainer/pythonEngine.ts";
import { createRoundFor, driveRound, trainerSteps } from "../trainer/RoundRunner.ts";
import { demoRoundConfig, tinyRoundConfig } from "../trainer/roundPresets.ts";
import {
  type ChatEngineChoice,
  chatEngineChoice,
  chosenLoader,
  startChatEngine,
} from "./chatEngineChoice.ts";
import { defineCommand } from "./commandLine.ts";
import {
  ConfigError,
  chatEngineOptions,
  listenOptions,
  modelSourceOptions,
  option,
  processEnvironment,
  telemetryOptions,
} from "./config.ts";
import {
  type DemoCanaryOptions,
  demoCanaryConfig,
  demoCanaryMinQuestions,
  post,
  runDemoCanary,
} from "./demoCanary.ts";
import { ProgressLine } from "./progress.ts";
import { startTelemetry } from "./telemetry.ts";

const demoOptions = z.object({
  dataDir: option(z.string().min(1).default(".medgate/demo"), {
    help: "Where the demo keeps its database, spool and rounds",
    value: "DIR",
    env: false,
  }),
  fresh: option(z.boolean().default(false), {
    help: "Delete DIR first and start from a new registry",
    env: false,
  }),
  ...listenOptions,
  prompts: option(z.coerce.number().int().default(40), {
    help: "Patient questions to send (8 to 74)",
    value: "N",
    env: false,
  }),
  ...modelSourceOptions,
  hfDir: option(z.string().min(1).optional(), {
    help: "Hugging Face checkpoint of the model, for training",
    value: "DIR",
    defaultText: "made from the GGUF once, beside it (NAME-hf)",
    env: false,
  }),
  preset: option(z.enum(["demo", "tiny"]).default("demo"), {
    help: "Round settings for the demo model or for the tiny test model",
    value: "demo|tiny",
    env: false,
  }),
  canary: option(z.boolean().default(false), {
    help: "Try a candidate that passed the gate in a shadow canary first, its blind pairs judged by the simulated clinician on the review page (a few minutes more)",
    env: false,
  }),
  exit: option(z.boolean().default(false), { help: "Stop after the loop instead of serving", env: false }),
  ...chatEngineOptions,
  ...telemetryOptions,
});

export type DemoOptions = z.infer<typeof demoOptions>;

export const demoCommand = defineCommand({
  usage: `Usage: medgate demo [options]

Runs the whole loop on the embedded database (PGlite) and the demo model, printing each step:
serves the model, sends patient questions through the API, gives clinician feedback (corrections
that add advice to see a clinician, preferences, thumbs-down), runs an alignment round (sampling,
judging, DPO, GGUF conversion), gates the candidate on the medical benchmarks and the safety set,
promotes it (with --canary, after a shadow canary judged blind by a simulated clinician), and shows the
gateway answering with the new version and what the round changed in its answers. Then it keeps serving, with the
API, the review page and the dashboard printed, until Ctrl-C. Run it again for a second round on new
traffic (judged by the implicit reward of the first round's model).`,
  options: demoOptions,
  run: (options) => demo(options),
});

export const CLINICIAN_ADVICE = " If your symptoms persist or get worse, please see a clinician.";

export const say = (step: string, text: string) => console.error(`${step.padEnd(10)} ${text}`);

async function demo(options: DemoOptions): Promise<void> {
  const questions = medicalQa().map((item) => item.q);
  if (!Number.isInteger(options.prompts) || options.prompts < 8 || options.prompts > questions.length)
    throw new ConfigError(`--prompts must be an integer from 8 to ${questions.length}.`);
  const started = performance.now();
  const dataDir = resolve(options.dataDir);
  if (options.fresh) await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  // Decided before anything starts, so that a missing llama-server for --engine llama-server fails at once.
  const engine = chatEngineChoice(options, processEnvironment());

  await using resources = new AsyncDisposableStack();
  const telemetry = resources.use(startTelemetry(options));
  const preset = options.preset === "tiny" ? tinyRoundConfig() : demoRoundConfig();
  // The canary asks the questions the traffic did not, each once: a handful of live questions is the demo's canary.
  const canaryQuestions = questions.slice(options.prompts);
  const roundConfig =
    options.canary && canaryQuestions.length >= demoCanaryMinQuestions
      ? { ...preset, canary: demoCanaryConfig(canaryQuestions.length) }
      : preset;
  const { database, server, models, completionLog, keys, modelName, probeLoader } = await startDemoSystem(
    resources,
    {
      ...options,
      dataDir,
      engine,
      // With a canary, the candidate's engine decodes beside the champion's: one thread each, so that the two never
      // ask for more threads than a 2-core machine has (llama.cpp's threads wait by spinning, and oversubscribed
      // cores slow both engines many times over).
      threads: roundConfig.inference?.threads ?? (roundConfig.canary ? 1 : undefined),
      telemetry: { captureMessageContent: options.traceMessageContent, metricsText: telemetry.metricsText },
    },
  );
  const api = new DemoClient(server.url, modelName);
  const round = await runLoop(database, api, keys, questions.slice(0, options.prompts), {
    modelName,
    dataDir,
    roundConfig,
    flush: () => completionLog.flush(),
    canary: {
      url: server.url,
      questions: canaryQuestions,
      servesCanary: (canaryId) => models.get(modelName)?.canary?.id === canaryId,
    },
  });
  if (round.state === "promoted") {
    const candidateId = round.candidateVersionId!;
    const deadline = Date.now() + 120_000;
    while (models.get(modelName)?.versionId !== candidateId && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    const answer = await api.ask(keys.app, "What should I do if I think I have the flu?", 64);
    await completionLog.flush();
    const [row] = await database.db
      .select({ versionId: completions.modelVersionId })
      .from(completions)
      .where(eq(completions.id, answer.id));
    const version = row?.versionId ? await findModelVersion(database.db, row.versionId) : undefined;
    say(
      "swap",
      `the gateway now answers with v${version?.version ?? "?"} (${answer.id} logged under version ${row?.versionId ?? "?"}):`,
    );
    console.error(`           “${answer.text.trim().replace(/\s+/gu, " ")}”`);
  }
  // What the round changed in the answers, whether or not a canary then promoted it.
  if (round.stats.gate?.passed) {
    await showAnswerChange(database, modelName, round, {
      load: probeLoader(roundConfig.inference?.threads),
      parallel: PROBE_PARALLEL,
    });
  }
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  console.error(`\nThe loop took ${minutes} min. Where to look:
  API                ${server.url}/v1   (app key:       ${keys.app})
  review page        ${server.url}/review   (clinician key: ${keys.clinician})
  admin dashboard    ${server.url}/admin   (admin key:     ${keys.admin})
  rounds             npx medgate rounds list --data-dir ${join(options.dataDir, "db")}
The keys are shown only now. ${options.exit ? "" : "Ctrl-C stops the server."}`);
  console.log(`${server.url}/v1`);
  if (options.exit) return;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`medgate: ${signal} received, stopping…`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}

export type DemoSystem = {
  database: DatabaseHandle;
  server: Gateway["server"];
  models: Gateway["models"];
  completionLog: Gateway["completionLog"];
  /** Secrets of an admin, a clinician and an app key, made for this run. */
  keys: { admin: string; clinician: string; app: string };
  modelName: string;
  /** Loads a version to answer the probe set, on the demo's chat engine with `threads` (default: its default). */
  probeLoader: (threads: number | undefined) => LoadModel;
};

/**
 * The demo's system on the embedded database in `dataDir`: the model (with a Hugging Face checkpoint for training,
 * made once), the registry with the model as v1 on a new one, three keys, and a gateway that serves the champion
 * and follows the registry. What it opens is disposed with `resources`.
 */
export async function startDemoSystem(
  resources: AsyncDisposableStack,
  options: {
    dataDir: string;
    model: string;
    modelName?: string;
    modelsDir: string;
    hfDir?: string;
    host: string;
    port: number;
    preset: "demo" | "tiny";
    /** What generates chat (chatEngineChoice): llama-server, or the in-process engine, maybe while one builds. */
    engine: ChatEngineChoice;
    threads?: number;
    telemetry?: GatewayOptions["telemetry"];
  },
): Promise<DemoSystem> {
  // 1. The model and its checkpoint for training.
  const source = await resolveModelSource(options.model, {
    modelsDir: options.modelsDir,
    download: "offline",
  });
  const modelName = options.modelName ?? source.name;
  const hfDir = resolve(options.hfDir ?? `${source.path.replace(/\.gguf$/iu, "")}-hf`);
  if (!existsSync(join(hfDir, "config.json"))) {
    say("model", `making a Hugging Face checkpoint of ${basename(source.path)} for training (once)…`);
    await runEngineScript("gguf_to_hf.py", ["--gguf", resolve(source.path), "--out", hfDir]);
  }

  // 2. The database and the registry.
  const database = resources.use(await createDatabase({ dataDir: join(options.dataDir, "db") }));
  await database.migrate();
  const champion = await demoChampion(database, modelName, resolve(source.path), hfDir);
  say("registry", `${modelName} v${champion.version} is the champion (${champion.ggufPath})`);
  const keys = {
    admin: (await createApiKey(database.db, { name: "demo admin", role: "admin" })).secret,
    clinician: (await createApiKey(database.db, { name: "demo clinician", role: "clinician" })).secret,
    app: (await createApiKey(database.db, { name: "demo app", role: "client" })).secret,
  };

  // 3. Serve, following the registry.
  const { server, models, completionLog } = resources.use(
    await openGateway(database, {
      host: options.host,
      port: options.port,
      spoolDir: join(options.dataDir, "spool"),
      telemetry: options.telemetry,
    }),
  );
  say("engine", options.engine.why);
  const log = (line: string) => say("gateway", line.replace(/^medgate: /u, ""));
  const settings: EngineSettings = {
    parallel: 4,
    threads: options.threads,
    contextSize: 2048,
    maxQueue: 64,
    gpu: options.preset === "tiny" ? false : "auto",
    chatTemplateFallback: source.catalogEntry?.chatTemplate,
  };
  const chat = startChatEngine(
    options.engine,
    (engine) => modelLoader(engine, modelName, settings),
    (build) => resources.use(build),
    processEnvironment(),
    log,
  );
  resources.use(
    await NameServing.start({
      database,
      models,
      name: modelName,
      given: { path: champion.ggufPath, registeredBy: "demo" },
      ...chat,
      log,
    }),
  );
  say("serve", `${server.url}/v1 answers with ${modelName} v${champion.version}`);
  // The probe answers: on the engine chosen for chat, 8 sequences at once, with the round's threads.
  const probeLoader = (threads: number | undefined) =>
    chosenLoader(
      options.engine,
      (engine) => modelLoader(engine, modelName, { ...settings, threads, parallel: PROBE_PARALLEL }),
      log,
    );
  return { database, server, models, completionLog, keys, modelName, probeLoader };
}

/** The name's champion; on a new registry, the given model registered as v1 with its checkpoint, audited. */
async function demoChampion(
  database: DatabaseHandle,
  name: string,
  ggufPath: string,
  hfDir: string,
): Promise<ModelVersionRow> {
  const champion = await findChampion(database.db, name);
  if (champion) return champion;
  return registerChampion(
    database.db,
    { name, ggufPath, ggufSha256: await sha256OfFile(ggufPath), hfDir, config: { registeredBy: "demo" } },
    { actor: `demo@${hostname()}`, reason: "the demo model, first champion" },
  );
}

/** Traffic, feedback, a round and its gate; returns the finished round. */
async function runLoop(
  database: DatabaseHandle,
  api: DemoClient,
  keys: { app: string; clinician: string },
  questions: string[],
  options: {
    modelName: string;
    dataDir: string;
    roundConfig: ReturnType<typeof demoRoundConfig>;
    flush: () => Promise<void>;
    /** For the canary stage, when the round config has one: the gateway, the questions, what it serves. */
    canary: Pick<DemoCanaryOptions, "url" | "questions" | "servesCanary">;
  },
): Promise<RoundRow> {
  // Patient traffic: one answer per question; the last few questions asked twice, for a preference.
  const twice = questions.slice(-4);
  const trafficStarted = performance.now();
  const progress = new ProgressLine();
  let done = 0;
  // Seeded, so that a run on the same model and machine sends the same answers.
  const answers = await mapConcurrent(questions, 4, async (question) => {
    const seed = questions.indexOf(question);
    const first = await api.ask(keys.app, question, 64, seed);
    const second = twice.includes(question) ? await api.ask(keys.app, question, 64, 1000 + seed) : undefined;
    progress.update("traffic", ++done, questions.length);
    return { question, first, second };
  });
  progress.end();
  const tokens = answers.reduce((sum, a) => sum + a.first.tokens + (a.second?.tokens ?? 0), 0);
  const seconds = (performance.now() - trafficStarted) / 1000;
  say(
    "traffic",
    `${questions.length + twice.length} answers to ${questions.length} patient questions, ${tokens} tokens in ${seconds.toFixed(1)} s (${(tokens / seconds).toFixed(0)} tok/s)`,
  );

  // Clinician feedback: most answers corrected by adding advice to see a clinician (the preference the
  // round should teach), a preference between two answers, two answers rated down, the rest for the judge.
  // Like a clinician, the correction drops the unfinished sentence of an answer cut at the token limit.
  const single = answers.filter((answer) => !answer.second);
  const corrected = single.slice(0, Math.floor(single.length * 0.75));
  const ratedDown = single.slice(corrected.length, corrected.length + 2);
  for (const answer of corrected)
    await api.feedback(keys.clinician, {
      type: "correction",
      completion_id: answer.first.id,
      correction: `${completeSentences(answer.first)}${CLINICIAN_ADVICE}`,
    });
  for (const answer of answers.filter((answer) => answer.second))
    await api.feedback(keys.clinician, {
      type: "preference",
      completion_id: answer.first.id,
      other_completion_id: answer.second!.id,
      preference: answer.second!.text.length > answer.first.text.length ? "b" : "a",
    });
  for (const answer of ratedDown)
    await api.feedback(keys.clinician, { type: "rating", completion_id: answer.first.id, rating: "down" });
  say(
    "feedback",
    `a clinician corrected ${corrected.length} answers (adding “${CLINICIAN_ADVICE.trim()}”), chose between two answers ${twice.length} times and rated ${ratedDown.length} down; ${single.length - corrected.length} prompts are left to the AI judge`,
  );
  await options.flush();

  // The round, up to the gate's decision.
  const created = await createRoundFor(database.db, {
    modelName: options.modelName,
    config: options.roundConfig,
    createdBy: "demo",
  });
  say(
    "round",
    `${options.modelName}#${created.number} started (${created.id}), judge: ${created.config.judge}`,
  );
  const driving = driveRound(created.id, {
    database,
    workDir: join(options.dataDir, "rounds"),
    // The canary stage prints its own progress.
    onProgress: ({ step, done, total, message }) => {
      if (step !== "canary") progress.update(step, done, total, message);
    },
  });
  // The round up to its gate's decision: its end, or the canary a passed candidate goes to.
  const round = await untilGated(database, created.id, driving);
  progress.end();
  const { stats } = round;
  if (stats.judged)
    say(
      "round",
      `${stats.judged.pairs} preference pairs (${stats.judged.train} to train on, ${stats.judged.heldout} held out), judged by ${stats.judged.judge}`,
    );
  const agreement = stats.judged?.agreement;
  if (agreement) {
    const shown = ({
      value,
      lower,
      upper,
    }: {
      value: number | null;
      lower: number | null;
      upper: number | null;
    }) => (value === null ? "n/a" : `${value.toFixed(2)} [${lower!.toFixed(2)}, ${upper!.toFixed(2)}]`);
    say(
      "judge",
      `against the clinicians on ${agreement.pairs} pairs they labelled: accuracy ${shown(agreement.accuracy)}, kappa ${shown(agreement.kappa)}, position consistency ${shown(agreement.positionConsistency)}, prefers the longer answer ${shown(agreement.lengthBias.judgeLongerShare)} (clinicians ${shown(agreement.lengthBias.clinicianLongerShare)})${agreement.used === false ? `; not used: ${(agreement.reasons ?? []).join("; ")}` : ""}`,
    );
  }
  if (stats.seconds)
    say(
      "round",
      `seconds per step: ${trainerSteps
        .filter((step) => stats.seconds![step] !== undefined)
        .map((step) => `${step} ${stats.seconds![step]}`)
        .join(", ")}`,
    );
  for (const warning of stats.warnings ?? []) say("round", `warning: ${warning}`);
  if (round.state === "failed") throw new Error(`The round failed: ${round.error}`);
  const gate = stats.gate!;
  say("gate", `candidate v${gate.candidate.version} against champion v${gate.champion.version}:`);
  for (const row of [...gate.benchmarks, { name: "pooled", ...gate.pooled }]) {
    const points = (value: number) => `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}`;
    console.error(
      `           ${row.name.padEnd(28)} n=${String(row.n).padEnd(4)} ${points(row.difference)} points [${points(row.lower)}, ${points(row.upper)}]`,
    );
  }
  const took = gate.seconds;
  console.error(
    `           scored in ${took.champion ?? "?"} s (champion) and ${took.candidate ?? "?"} s (candidate); safety set ${took.safety ?? "?"} s, held-out pairs ${took.heldout ?? "?"} s`,
  );
  console.error(
    `           held-out preference accuracy ${gate.heldoutPreferenceAccuracy === null ? "—" : `${(gate.heldoutPreferenceAccuracy * 100).toFixed(0)}%`}; safety set: ${gate.safety.regressions.length} regression(s) of ${gate.safety.total}`,
  );
  say(
    "gate",
    !gate.passed
      ? `failed, v${gate.candidate.version} rejected: ${gate.reasons.join("; ")}`
      : round.state === "canary"
        ? `passed: v${gate.candidate.version} goes to a canary before it may replace v${gate.champion.version}`
        : `passed: v${gate.candidate.version} promoted to champion (audited)`,
  );
  if (round.state !== "canary") return driving;
  await runDemoCanary({
    ...options.canary,
    database,
    roundId: round.id,
    keys,
    modelName: options.modelName,
    advice: CLINICIAN_ADVICE.trim(),
    say,
  });
  return driving;
}

/** The round once its gate has decided: its end, or the canary a passed candidate goes to first. */
async function untilGated(
  database: DatabaseHandle,
  roundId: string,
  driving: Promise<RoundRow>,
): Promise<RoundRow> {
  const ended = driving.then((round) => ({ round }));
  // The caller awaits `driving` itself; a failure is reported there, not here as well.
  ended.catch(() => {});
  for (;;) {
    const done = await Promise.race([
      ended,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 500)),
    ]);
    if (done) return done.round;
    const current = await findRound(database.db, roundId);
    if (current?.state === "canary") return current;
  }
}

/** The demo's probe set: patient questions distinct from its traffic, which no round trains on. */
export const demoProbeSet = join(engineDir, "fixtures", "demo_probes.jsonl");

/**
 * What the round changed in the answers: the champion it replaced and the new one answer the probe set greedily;
 * prints how many answers carry the clinicians' advice (or any "see a clinician" safety-netting) and run on in
 * repetition, and two of the questions with both versions' answers.
 */
async function showAnswerChange(
  database: DatabaseHandle,
  modelName: string,
  round: RoundRow,
  options: AnswerProbesOptions,
): Promise<void> {
  const before = await findModelVersion(database.db, round.baseVersionId);
  const after = round.candidateVersionId
    ? await findModelVersion(database.db, round.candidateVersionId)
    : undefined;
  if (!before || !after) return;
  const probes = await readProbeSet(demoProbeSet);
  const progress = new ProgressLine();
  let done = 0;
  const answered = async (version: ModelVersionRow) => {
    const answers = await answerProbes(version, probes, {
      ...options,
      maxTokens: PROBE_TOKENS,
      onAnswer: () => progress.update("answers", ++done, probes.length * 2),
    });
    return { answers, summary: summarizeProbeAnswers(answers, CLINICIAN_ADVICE.trim()) };
  };
  const v1 = await answered(before);
  const v2 = await answered(after);
  progress.end();
  const n = probes.length;
  const [b, a] = [`v${before.version}`, `v${after.version}`];
  say(
    "answers",
    `${n} patient questions no round saw, answered greedily (up to ${PROBE_TOKENS} tokens) by ${modelName} ${b} and ${a}:`,
  );
  console.error(
    `           advises seeing a clinician: ${b} ${v1.summary.loose}/${n} → ${a} ${v2.summary.loose}/${n}`,
  );
  console.error(
    `           the clinicians' sentence word for word: ${b} ${v1.summary.exact}/${n} → ${a} ${v2.summary.exact}/${n}`,
  );
  console.error(
    `           repetitive answers: ${b} ${v1.summary.degenerate} → ${a} ${v2.summary.degenerate}; ended before the limit: ${b} ${v1.summary.ended} → ${a} ${v2.summary.ended}; mean length ${v1.summary.meanTokens.toFixed(0)} → ${v2.summary.meanTokens.toFixed(0)} tokens`,
  );
  for (const i of [0, 1]) {
    console.error(`           “${probes[i]!.conversation.at(-1)!.content}”`);
    for (const [label, { answers }] of [
      [b, v1],
      [a, v2],
    ] as const)
      console.error(`             ${label}: ${answers[i]!.text.trim().replace(/\s+/gu, " ")}`);
  }
}

const PROBE_TOKENS = 160;
/** Probe answers computed at once (in-process on 2 cores, 8 answered v1's 36 probes 1.15× faster than 4). */
const PROBE_PARALLEL = 8;

/** The answer up to its last complete sentence when it was cut at the token limit (all of it when none is complete). */
function completeSentences(answer: { text: string; finishReason: string }): string {
  const text = answer.text.trimEnd();
  if (answer.finishReason !== "length") return text;
  const complete = /^[\s\S]*[.!?](?=\s|$)/u.exec(text)?.[0];
  return complete ?? text;
}

/** The API as any OpenAI client sees it; the demo's traffic and feedback go through it. */
export class DemoClient {
  readonly #url: string;
  readonly #model: string;

  constructor(url: string, model: string) {
    this.#url = url;
    this.#model = model;
  }

  async ask(key: string, question: string, maxTokens: number, seed?: number) {
    const body = (await this.#post(key, "/v1/chat/completions", {
      model: this.#model,
      messages: [{ role: "user", content: question }],
      max_tokens: maxTokens,
      temperature: 0.7,
      seed,
    })) as {
      id: string;
      choices: { message: { content: string | null }; finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    return {
      id: body.id,
      text: body.choices[0]?.message.content ?? "",
      finishReason: body.choices[0]?.finish_reason ?? "stop",
      tokens: body.usage.completion_tokens,
    };
  }

  async feedback(key: string, body: Record<string, unknown>): Promise<void> {
    await this.#post(key, "/v1/feedback", body);
  }

  #post(key: string, path: string, body: unknown): Promise<unknown> {
    return post(this.#url, key, path, body);
  }
}
