// The gate's answer evaluation: candidate and champion answer the same probe prompts (the round's held-out prompts
// and the gate config's probe sets) with the same settings, the answers are checked against the team's checks and
// compared by a pairwise judge in both orders; the figures go to the gate policy, the answers to `round_answers`.
import "disposablestack/auto";
import type { AnswerCheckReport, AnswerJudgeReport } from "../../db/gateReport.ts";
import type { NewRoundAnswer } from "../../db/roundAnswers.ts";
import { roundPairsOf, roundPromptsOf } from "../../db/rounds.ts";
import type { ModelVersionRow, RoundRow } from "../../db/schema.ts";
import type { ChatMessage, FinishReason } from "../../inference/chatTypes.ts";
import { ContextLengthExceededError } from "../../inference/errors.ts";
import { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { mapConcurrent } from "../concurrency.ts";
import { judgeFor } from "../judges/judgeFor.ts";
import { endpointVerdicts, pairwiseJudge, scorerVerdicts } from "../judges/pairwise.ts";
import type { Judge, PairComparison } from "../judges/types.ts";
import type { RoundConfig } from "../roundConfig.ts";
import { engineScorer } from "../scoring/engineScorer.ts";
import { engineOptions, loadVersion, RoundStepError, type StepContext } from "../steps/stepContext.ts";
import { type AnswerCheck, checkName, passesCheck } from "./answerChecks.ts";
import { heldoutProbeSet } from "./answersConfig.ts";
import type { AnswerFigures, GatePolicy } from "./gatePolicy.ts";
import { type ProbePrompt, readProbeSet } from "./probeSet.ts";
import { mcnemarExact } from "./statistics.ts";
import {
  type AnswerVerdict,
  type Comparison,
  lengthControlledWinRate,
  verdictOf,
  winRateBootstrap,
} from "./winRate.ts";

/** A probe set as the gate asks it: its prompts (those the round trained on left out) and its checks. */
type ProbeSet = {
  name: string;
  path?: string;
  prompts: ProbePrompt[];
  trainedOn: number;
  checks: { name: string; check: AnswerCheck }[];
};

type Answer = { text: string; finishReason: FinishReason };

export type AnswerEvaluation = { figures: AnswerFigures; rows: NewRoundAnswer[] };

/** Asks, checks and judges; returns the figures for the gate policy and the rows to store with the round. */
export async function evaluateAnswers(
  round: RoundRow,
  config: RoundConfig,
  models: { candidate: ModelVersionRow; champion: ModelVersionRow },
  policy: GatePolicy,
  context: StepContext,
): Promise<AnswerEvaluation> {
  const settings = answerSettings(config);
  const sets = await probeSetsOf(round, config, context);
  const asked = sets.flatMap((set, setIndex) =>
    set.prompts.flatMap((prompt, promptIndex) =>
      Array.from({ length: settings.samples }, (_, sample) => ({
        setIndex,
        promptIndex,
        prompt,
        sample,
        seed: settings.samples === 1 ? null : seedOf(prompt, sample, settings.seed),
      })),
    ),
  );
  const progress = (message: string, done?: number) =>
    context.onProgress({
      roundId: round.id,
      step: "evaluating",
      message,
      ...(done === undefined ? {} : { done, total: asked.length }),
    });
  // One model at a time: the two engines never hold the memory together.
  // A prompt too long for a model's context gets no answer (null); it is left out of the comparison.
  const answersOf = async (version: ModelVersionRow, label: string): Promise<(Answer | null)[]> => {
    await using engine = await loadVersion(version, config, { kvCache: "f16" });
    let done = 0;
    progress(`answers: ${label}`, done);
    // Awaited here: the engine is disposed when this function returns.
    return await mapConcurrent(
      asked,
      engine.info.parallel,
      async ({ prompt, seed }) => {
        let stream: Awaited<ReturnType<typeof engine.startChat>>;
        try {
          stream = await engine.startChat(
            {
              messages: prompt.messages,
              maxTokens: settings.maxTokens,
              sampling:
                seed === null
                  ? { temperature: 0 }
                  : { temperature: settings.temperature!, topP: config.topP },
              ...(seed === null ? {} : { seed }),
            },
            context.signal,
          );
        } catch (error) {
          if (!(error instanceof ContextLengthExceededError)) throw error;
          progress(`answers: ${label}`, ++done);
          return null;
        }
        for await (const _ of stream) {
          // The whole text is read from the result.
        }
        const result = await stream.result;
        progress(`answers: ${label}`, ++done);
        return { text: result.text, finishReason: result.finishReason };
      },
      context.signal,
    );
  };
  const championAnswers = await answersOf(models.champion, `champion v${models.champion.version}`);
  const candidateAnswers = await answersOf(models.candidate, `candidate v${models.candidate.version}`);
  const answered = asked.flatMap((item, i) => {
    const champion = championAnswers[i];
    const candidate = candidateAnswers[i];
    return champion && candidate ? [{ ...item, champion, candidate }] : [];
  });

  const verdicts: ({
    verdict: AnswerVerdict;
    candidateFirst: number | null;
    candidateSecond: number | null;
  } | null)[] = answered.map(() => null);
  let judgeName: string | null = null;
  let judgeSkipped: string | undefined;
  {
    await using judge = await answerJudgeFor(round, config, context);
    if ("skipped" in judge) judgeSkipped = judge.skipped;
    else {
      judgeName = judge.describe();
      let done = 0;
      progress(`answers: judged by ${judgeName}`, 0);
      await mapConcurrent(
        answered,
        2,
        async ({ prompt, candidate: { text: candidate }, champion: { text: champion } }, i) => {
          if (candidate === champion) {
            // The same answer: a tie without asking.
            verdicts[i] = { verdict: "tie", candidateFirst: null, candidateSecond: null };
          } else {
            let comparison: PairComparison;
            try {
              comparison = await judge.compare(prompt.messages, candidate, champion, context.signal);
            } catch (error) {
              // Both answers with the prompt do not fit the judge's context: not judged.
              if (!(error instanceof ContextLengthExceededError)) throw error;
              progress(`answers: judged by ${judgeName}`, ++done);
              return;
            }
            const { aShownFirst, bShownFirst } = comparison;
            verdicts[i] = {
              verdict: verdictOf(aShownFirst, bShownFirst),
              candidateFirst: aShownFirst,
              candidateSecond: bShownFirst,
            };
          }
          progress(`answers: judged by ${judgeName}`, ++done);
        },
        context.signal,
      );
    }
  }

  const rows: NewRoundAnswer[] = answered.map(
    ({ setIndex, promptIndex, prompt, sample, seed, champion, candidate }, i) => {
      const set = sets[setIndex]!;
      return {
        roundId: round.id,
        probeSet: set.name,
        promptIndex,
        source: prompt.source,
        messages: prompt.messages,
        sample,
        seed,
        championText: champion.text,
        championFinishReason: champion.finishReason,
        candidateText: candidate.text,
        candidateFinishReason: candidate.finishReason,
        checks: set.checks.map(({ name, check }) => ({
          name,
          champion: passesCheck(check, champion.text),
          candidate: passesCheck(check, candidate.text),
        })),
        verdict: verdicts[i]?.verdict ?? null,
        candidateFirst: verdicts[i]?.candidateFirst ?? null,
        candidateSecond: verdicts[i]?.candidateSecond ?? null,
      };
    },
  );

  const bootstrap = { resamples: policy.resamples, seed: policy.seed, confidence: policy.confidence };
  const judgeFigures = (of: NewRoundAnswer[], promptKey: (row: NewRoundAnswer) => number) => {
    const comparisons: Comparison[] = of.flatMap((row) =>
      row.verdict
        ? [
            {
              prompt: promptKey(row),
              verdict: row.verdict as AnswerVerdict,
              candidateChars: row.candidateText.length,
              championChars: row.championText.length,
            },
          ]
        : [],
    );
    return comparisons.length === 0 ? null : judgeReport(comparisons, bootstrap);
  };
  const probeSets = sets.map((set) => {
    const own = rows.filter((row) => row.probeSet === set.name);
    const mean = (pick: (row: NewRoundAnswer) => number) =>
      own.length === 0 ? 0 : own.reduce((sum, row) => sum + pick(row), 0) / own.length;
    return {
      name: set.name,
      ...(set.path ? { path: set.path } : {}),
      prompts: new Set(own.map((row) => row.promptIndex)).size,
      trainedOn: set.trainedOn,
      tooLong: set.prompts.length - new Set(own.map((row) => row.promptIndex)).size,
      meanChars: {
        candidate: mean((row) => row.candidateText.length),
        champion: mean((row) => row.championText.length),
      },
      stopped: {
        candidate: mean((row) => Number(row.candidateFinishReason === "stop")),
        champion: mean((row) => Number(row.championFinishReason === "stop")),
      },
      checks: set.checks.map(({ name }, c): Omit<AnswerCheckReport, "regressed"> => {
        const candidate = own.map((row) => row.checks[c]!.candidate);
        const champion = own.map((row) => row.checks[c]!.champion);
        return {
          name,
          n: own.length,
          championPassed: champion.filter(Boolean).length,
          candidatePassed: candidate.filter(Boolean).length,
          mcnemar: mcnemarExact(candidate, champion),
        };
      }),
      judge: judgeFigures(own, (row) => row.promptIndex),
    };
  });
  const setIndexOf = new Map(sets.map((set, i) => [set.name, i]));
  return {
    figures: {
      settings: {
        samples: settings.samples,
        temperature: settings.samples === 1 ? null : settings.temperature!,
        maxTokens: settings.maxTokens,
        seed: settings.seed,
      },
      judge: judgeName,
      ...(judgeSkipped ? { judgeSkipped } : {}),
      probeSets,
      // Prompts of different sets are different prompts, even where their text is the same.
      overall: judgeFigures(rows, (row) => setIndexOf.get(row.probeSet)! * 1_000_000 + row.promptIndex),
    },
    rows,
  };
}

function answerSettings(config: RoundConfig) {
  const { answers } = config.gate;
  return {
    samples: answers.samples,
    temperature: answers.samples === 1 ? null : (answers.temperature ?? config.temperature),
    maxTokens: answers.maxTokens ?? config.maxTokens,
    seed: config.seed,
  };
}

/** The seed of a prompt's k-th sample, the same for both models and wherever the prompt sits in its set. */
function seedOf(prompt: ProbePrompt, sample: number, seed: number): number {
  return (Number.parseInt(prompt.promptHash.slice(0, 7), 16) + sample * 7919 + seed * 104_729) % 2 ** 31;
}

function judgeReport(
  comparisons: Comparison[],
  bootstrap: { resamples: number; seed: number; confidence: number },
): AnswerJudgeReport {
  const count = (verdict: AnswerVerdict) => comparisons.filter((c) => c.verdict === verdict).length;
  const { winRate, lower, upper } = winRateBootstrap(comparisons, bootstrap);
  const lengthControlled = lengthControlledWinRate(comparisons);
  return {
    prompts: new Set(comparisons.map((c) => c.prompt)).size,
    comparisons: comparisons.length,
    wins: count("win"),
    ties: count("tie"),
    losses: count("loss"),
    winRate,
    lower,
    upper,
    lengthControlledWinRate: lengthControlled.winRate,
    lengthCoefficient: lengthControlled.lengthCoefficient,
  };
}

/** The round's held-out prompts, then each configured probe set, without the prompts the round trained on. */
async function probeSetsOf(round: RoundRow, config: RoundConfig, { db }: StepContext): Promise<ProbeSet[]> {
  const { answers } = config.gate;
  const [pairs, prompts] = await Promise.all([roundPairsOf(db, round.id), roundPromptsOf(db, round.id)]);
  const promptOf = new Map(prompts.map((prompt) => [prompt.id, prompt]));
  const trained = new Set(
    pairs.filter((pair) => pair.split === "train").map((pair) => promptOf.get(pair.promptId)!.promptHash),
  );
  const checksOf = (name: string) =>
    (answers.probeSets.find((set) => set.name === name)?.checks ?? []).map((check) => ({
      name: checkName(check),
      check,
    }));
  const limited = (list: ProbePrompt[]) => (answers.limit ? list.slice(0, answers.limit) : list);
  const heldout = pairs
    .filter((pair) => pair.split === "heldout")
    .map((pair) => promptOf.get(pair.promptId)!)
    .map((prompt) => ({
      source: `round prompt ${prompt.id}`,
      messages: prompt.messages as ChatMessage[],
      promptHash: prompt.promptHash,
    }));
  const sets: ProbeSet[] = [
    { name: heldoutProbeSet, prompts: limited(heldout), trainedOn: 0, checks: checksOf(heldoutProbeSet) },
  ];
  for (const set of answers.probeSets) {
    if (!set.path) continue;
    let read: ProbePrompt[];
    try {
      read = await readProbeSet(set.path);
    } catch (error) {
      throw new RoundStepError((error as Error).message);
    }
    const kept = read.filter((prompt) => !trained.has(prompt.promptHash));
    sets.push({
      name: set.name,
      path: set.path,
      prompts: limited(kept),
      trainedOn: read.length - kept.length,
      checks: checksOf(set.name),
    });
  }
  return sets.filter((set) => set.prompts.length > 0);
}

/**
 * The judge of the answers: the configured `answerJudge` (a GGUF here, or an endpoint), else the round's own judge
 * when the judging step used it; else none, and why.
 */
async function answerJudgeFor(
  round: RoundRow,
  config: RoundConfig,
  context: StepContext,
): Promise<(Judge | { skipped: string }) & AsyncDisposable> {
  const spec = config.gate.answers.answerJudge;
  const none = async () => {};
  if (spec && "endpoint" in spec) {
    const { endpoint } = spec;
    const apiKey = endpoint.apiKeyEnv ? context.env[endpoint.apiKeyEnv] : undefined;
    if (endpoint.apiKeyEnv && !apiKey) {
      throw new RoundStepError(`The answer judge's key variable ${endpoint.apiKeyEnv} is not set.`);
    }
    const judge = pairwiseJudge(endpointVerdicts({ url: endpoint.url, model: endpoint.model, apiKey }));
    return { ...judge, [Symbol.asyncDispose]: none };
  }
  if (spec && "gguf" in spec) {
    const engine = await InferenceEngine.load({
      ...engineOptions(config, { kvCache: "f32" }),
      modelPath: spec.gguf,
      modelName: `answer-judge:${spec.gguf}`,
    });
    const judge = pairwiseJudge(scorerVerdicts(engineScorer(engine)));
    return { ...judge, [Symbol.asyncDispose]: () => engine[Symbol.asyncDispose]() };
  }
  const agreement = round.stats.judged?.agreement;
  if (!agreement)
    return {
      skipped: "the round measured no judge and no answerJudge is configured",
      [Symbol.asyncDispose]: none,
    };
  if (agreement.used === false) {
    return {
      skipped: `the round's judge was not used (${(agreement.reasons ?? []).join("; ")}) and no answerJudge is configured`,
      [Symbol.asyncDispose]: none,
    };
  }
  return judgeFor(round, config, context);
}
