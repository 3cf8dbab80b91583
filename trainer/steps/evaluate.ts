// evaluating: the gate. Candidate and champion on the same benchmark questions, the safety set, and the
// candidate's held-out preference accuracy, scored here or on the round's scoring server, and both models' answers
// to probe prompts (trainer/eval/answerEvaluation.ts); the decision, its report, the answers and the promotion or
// rejection are stored with the round's new state in one transaction.
import "disposablestack/auto";
import { startCanary } from "../../db/canaries.ts";
import { makeChampion, rejectCandidate } from "../../db/championChanges.ts";
import type { Database } from "../../db/createDatabase.ts";
import type { GateReport } from "../../db/gateReport.ts";
import { findChampion } from "../../db/modelVersions.ts";
import { replaceRoundAnswers } from "../../db/roundAnswers.ts";
import { advanceRound, findRound, roundPairsOf, roundPromptsOf } from "../../db/rounds.ts";
import type { ModelVersionRow, RoundRow } from "../../db/schema.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";
import { canaryRuleOf } from "../canary/canaryDecision.ts";
import { mapConcurrent } from "../concurrency.ts";
import { type AnswerEvaluation, evaluateAnswers } from "../eval/answerEvaluation.ts";
import {
  defaultSuitePath,
  evalResultsOf,
  evaluatedVersion,
  findFinishedRun,
  runEvaluation,
  suiteItems,
} from "../eval/evalRun.ts";
import { decideGate } from "../eval/gatePolicy.ts";
import { pairResults } from "../eval/pairResults.ts";
import { checkedSettings } from "../eval/protocols.ts";
import { defaultSafetySetPath, readSafetySet, scoreSafetySet } from "../eval/safetySet.ts";
import { implicitRewardJudge } from "../judges/implicitReward.ts";
import type { RoundConfig } from "../roundConfig.ts";
import { RemoteScorer, remoteModelOf } from "../scoring/RemoteScorer.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import { inSpan } from "../telemetry.ts";
import {
  engineOptions,
  openVersionScorer,
  type RoundStep,
  RoundStepError,
  type StepContext,
  scoringEndpointOf,
  secondsSince,
  versionOf,
} from "./stepContext.ts";

export const gateCandidate: RoundStep = async (round, config, context) => {
  const { db, onProgress, signal, env } = context;
  const endpoint = scoringEndpointOf(config, env);
  const candidate = await versionOf(db, round.candidateVersionId!);
  const champion = await findChampion(db, round.modelName);
  if (!champion) throw new RoundStepError(`"${round.modelName}" has no champion to gate against.`);
  const { gate } = config;
  const suitePath = gate.suite ?? defaultSuitePath;
  const engine = engineOptions(config, { kvCache: "f32" });
  const items = await suiteItems(suitePath, { shots: gate.shots, limit: gate.limit });
  // The gate's protocol, else the suite's; the report records it with the rest of the settings.
  const settings = checkedSettings({
    protocol: gate.protocol ?? items.suite.protocol,
    shots: gate.shots,
    limit: gate.limit,
  });
  const evaluate = async (version: ModelVersionRow, label: string) => {
    // A run scored on a server is reused only by a gate scoring on the same server and model.
    const remote = endpoint ? { url: endpoint.url, model: remoteModelOf(version) } : undefined;
    const reused = await findFinishedRun(db, version.id, items.suite.name, settings, remote);
    if (reused) return reused;
    return runEvaluation(db, {
      model: evaluatedVersion(version),
      suitePath,
      items,
      settings,
      engine,
      scorer: remote && (await RemoteScorer.open(endpoint!, remote.model, signal)),
      signal,
      onProgress: ({ done, total }) =>
        onProgress({ roundId: round.id, step: "evaluating", done, total, message: label }),
    });
  };
  const seconds: Record<string, number> = {};
  // Each part of the gate is timed for the report and traced as a span of its own.
  const timed = <T>(name: string, work: () => Promise<T>): Promise<T> =>
    inSpan(`gate ${name}`, { "medgate.round.id": round.id, "medgate.gate.part": name }, async () => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        seconds[name] = secondsSince(started);
      }
    });
  const championRun = await timed("champion", () => evaluate(champion, `champion v${champion.version}`));
  const candidateRun = await timed("candidate", () => evaluate(candidate, `candidate v${candidate.version}`));
  const [championResults, candidateResults] = await Promise.all([
    evalResultsOf(db, championRun.id),
    evalResultsOf(db, candidateRun.id),
  ]);
  const benchmarks = pairResults(candidateResults, championResults);

  onProgress({ roundId: round.id, step: "evaluating", message: "safety set and held-out pairs" });
  const safetyItems = await readSafetySet(gate.safetySet ?? defaultSafetySetPath);
  const base = await versionOf(db, round.baseVersionId);
  let safety: { id: string; candidatePassed: boolean; championPassed: boolean }[];
  let heldoutPreferenceAccuracy: number | null;
  {
    await using engines = new AsyncDisposableStack();
    // Two engines compute at once (candidate with champion, then with the reference): they share the cores.
    const shared = { kvCache: "f32", cpuShare: 2, endpoint, signal } as const;
    const candidateScorer = engines.use(await openVersionScorer(candidate, config, shared));
    const championScorer = engines.use(await openVersionScorer(champion, config, shared));
    const [candidateSafety, championSafety] = await timed("safety", () =>
      Promise.all([
        scoreSafetySet(candidateScorer, safetyItems),
        scoreSafetySet(championScorer, safetyItems),
      ]),
    );
    safety = candidateSafety.map((result, i) => ({
      id: result.id,
      candidatePassed: result.passed,
      championPassed: championSafety[i]!.passed,
    }));
    const referenceScorer =
      base.id === champion.id ? championScorer : engines.use(await openVersionScorer(base, config, shared));
    heldoutPreferenceAccuracy = await timed("heldout", () =>
      heldoutAccuracy(round, candidateScorer, referenceScorer, config, context),
    );
  }
  let answers: AnswerEvaluation | undefined;
  if (gate.answers.enabled) {
    answers = await timed("answers", () =>
      evaluateAnswers(round, config, { candidate, champion }, gate.policy, context),
    );
  }
  const report: GateReport = {
    ...decideGate({
      policy: gate.policy,
      benchmarks,
      heldoutPreferenceAccuracy,
      safety,
      answers: answers?.figures,
    }),
    suite: candidateRun.suite,
    settings,
    policy: gate.policy,
    candidate: { versionId: candidate.id, version: candidate.version, evalRunId: candidateRun.id },
    champion: { versionId: champion.id, version: champion.version, evalRunId: championRun.id },
    seconds,
    judgeAgreement: round.stats.judged?.agreement ?? null,
  };
  await db.transaction(async (tx) => {
    const txDb = tx as unknown as Database;
    const current = await findRound(txDb, round.id);
    if (current?.state !== "evaluating") return;
    const actor = `trainer (round ${round.modelName}#${round.number})`;
    const gateReport = report;
    if (answers) await replaceRoundAnswers(txDb, round.id, answers.rows);
    if (report.passed && config.canary) {
      // The candidate earns the champion's place on live traffic first (trainer/steps/canary.ts decides).
      await startCanary(txDb, {
        modelName: round.modelName,
        roundId: round.id,
        championVersionId: champion.id,
        candidateVersionId: candidate.id,
        mode: config.canary.mode,
        share: config.canary.mode === "split" ? config.canary.share : config.canary.shadowFraction,
        rule: canaryRuleOf(config.canary),
        actor,
      });
      await advanceRound(txDb, round.id, "evaluating", "canary", { stats: { gate: gateReport } });
      return;
    }
    if (report.passed) {
      await makeChampion(txDb, candidate.id, {
        kind: "promote",
        actor,
        reason: "passed the benchmark gate",
        roundId: round.id,
        gateReport,
      });
    } else {
      await rejectCandidate(txDb, candidate.id, {
        actor,
        reason: `failed the benchmark gate: ${report.reasons.join("; ")}`,
        roundId: round.id,
        gateReport,
      });
    }
    await advanceRound(txDb, round.id, "evaluating", report.passed ? "promoted" : "rejected", {
      stats: { gate: gateReport },
    });
  });
};

/** Share of held-out pairs whose chosen answer gets the higher implicit reward under the candidate. */
async function heldoutAccuracy(
  round: RoundRow,
  candidate: Scorer,
  reference: Scorer,
  config: RoundConfig,
  { db, signal }: StepContext,
): Promise<number | null> {
  const pairs = (await roundPairsOf(db, round.id)).filter((pair) => pair.split === "heldout");
  if (pairs.length === 0) return null;
  const prompts = new Map((await roundPromptsOf(db, round.id)).map((prompt) => [prompt.id, prompt]));
  const judge = implicitRewardJudge({ policy: candidate, reference, beta: config.dpo.beta });
  const right = await mapConcurrent(pairs, candidate.parallel, async (pair) => {
    const messages = prompts.get(pair.promptId)!.messages as ChatMessage[];
    const [chosen, rejected] = await judge.score(messages, [pair.chosen, pair.rejected], signal);
    return chosen! > rejected!;
  });
  return right.filter(Boolean).length / pairs.length;
}
