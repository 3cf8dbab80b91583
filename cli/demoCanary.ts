// The demo's canary stage: the round's candidate, past its gate, shadows live patient questions sent through the API,
// and the demo's simulated clinician judges the blind pairs on the review page's compare view, by the rubric its
// corrections taught (advice to see a clinician, no repetition, a finished answer), until the sequential rule
// decides. The trainer's canary step (driven by the demo's round) pairs the answers and decides, audited.
import { canariesOf } from "../db/canaries.ts";
import type { DatabaseHandle } from "../db/createDatabase.ts";
import { findModelVersion } from "../db/modelVersions.ts";
import { findRound } from "../db/rounds.ts";
import type { CanaryRow } from "../db/schema.ts";
import { mapConcurrent } from "../trainer/concurrency.ts";
import { answerCheckSchema, passesCheck } from "../trainer/eval/answerChecks.ts";
import { carriesLoosely, isDegenerate } from "../trainer/probeAnswers.ts";
import type { RoundConfigInput } from "../trainer/roundConfig.ts";

/** Fewest patient questions the traffic left unasked for a canary worth running; with fewer the demo has none. */
export const demoCanaryMinQuestions = 8;
/** Most canary questions (and so verdicts): the time the stage takes grows with them. */
const demoCanaryMaxQuestions = 24;
/** Tokens per canary answer: room for v2's answers to end (mean 77 tokens on the probe set). */
const canaryTokens = 128;

/**
 * The demo's canary: shadow mode (every live question answered again by the candidate in the background), one
 * verdict per pair, the default rule (α = 0.05, strictly better than the champion), at most one verdict per
 * question, and a few minutes' timeout; either timeout keeps the champion.
 */
export function demoCanaryConfig(questions: number): NonNullable<RoundConfigInput["canary"]> {
  return {
    mode: "shadow",
    shadowFraction: 1,
    maxComparisons: Math.min(questions, demoCanaryMaxQuestions),
    maxDuration: "3m",
    onTimeout: "reject",
  };
}

/** The gate's answer check of a finished answer (closing quotes and brackets after the full stop allowed). */
const endsWithSentence = answerCheckSchema.parse({ kind: "endsWithSentence" });

/**
 * The simulated clinician's blind verdict on answers A and B, by the rubric of the demo's corrections, in order:
 * the answer that advises seeing a clinician (or equivalent safety-netting); the one that does not repeat itself;
 * the one that ends on a complete sentence; otherwise a tie.
 */
export function clinicianPreference(a: string, b: string, advice: string): "a" | "b" | "tie" {
  const rubric = (text: string) => [
    carriesLoosely(text, advice) ? 1 : 0,
    isDegenerate(text) ? 0 : 1,
    passesCheck(endsWithSentence, text) ? 1 : 0,
  ];
  const [ra, rb] = [rubric(a), rubric(b)];
  for (let i = 0; i < ra.length; i++) {
    if (ra[i]! > rb[i]!) return "a";
    if (ra[i]! < rb[i]!) return "b";
  }
  return "tie";
}

/** The pair the review page's compare view shows: the two completions' ids and answers, as a clinician sees them. */
export function comparePagePair(
  html: string,
): { a: { id: string; text: string }; b: { id: string; text: string } } | undefined {
  const shown = [
    ...html.matchAll(/data-completion-id="([^"]+)"[\s\S]*?<div class="text answer">([\s\S]*?)<\/div>/gu),
  ].map((match) => ({ id: unescapeHtml(match[1]!), text: unescapeHtml(match[2]!) }));
  return shown.length === 2 ? { a: shown[0]!, b: shown[1]! } : undefined;
}

function unescapeHtml(text: string): string {
  return text
    .replace(/&lt;/gu, "<")
    .replace(/&gt;/gu, ">")
    .replace(/&quot;/gu, '"')
    .replace(/&#39;/gu, "'")
    .replace(/&amp;/gu, "&");
}

export type DemoCanaryOptions = {
  database: DatabaseHandle;
  roundId: string;
  /** The gateway's address, and the keys the patients' app and the clinician use. */
  url: string;
  keys: { app: string; clinician: string };
  modelName: string;
  /** Questions the demo's traffic did not ask, one per canary answer. */
  questions: string[];
  /** The clinicians' advice, for the rubric. */
  advice: string;
  /** Whether the gateway serves the canary (it loads the candidate when the canary starts). */
  servesCanary: (canaryId: string) => boolean;
  say: (step: string, text: string) => void;
};

/**
 * Runs the canary stage of the demo's round (in `canary`): live questions through the API while the canary runs,
 * and the clinician's verdicts on the compare view's pairs until the trainer's look ends it. Returns the canary as
 * it ended (or as it stands when the round left `canary` another way).
 */
export async function runDemoCanary(options: DemoCanaryOptions): Promise<CanaryRow> {
  const { database, say } = options;
  const started = performance.now();
  const canary = (await canariesOf(database.db, options.modelName)).find(
    (row) => row.roundId === options.roundId,
  );
  if (!canary) throw new Error("The demo's round is in canary but has no canary.");
  const inCanary = async () => (await findRound(database.db, options.roundId))?.state === "canary";
  const deadline = Date.now() + canary.rule.maxDurationMs + 60_000;
  while (!options.servesCanary(canary.id) && (await inCanary())) {
    if (Date.now() > deadline) throw new Error("The gateway did not load the canary's candidate.");
    await sleep(200);
  }
  // One question per verdict the rule may need.
  const questions = options.questions.slice(0, canary.rule.maxComparisons);
  const [champion, candidate] = await Promise.all(
    [canary.championVersionId, canary.candidateVersionId].map((id) => findModelVersion(database.db, id)),
  );
  say(
    "canary",
    `v${candidate?.version ?? "?"} answers ${questions.length} live questions again in the background (${canary.mode} mode; only v${champion?.version ?? "?"}'s answers reach the app); a clinician judges the blind pairs on ${options.url}/review/compare; rule: promote when the ${Math.round((1 - canary.rule.alpha) * 100)}% always-valid interval of the win rate clears ${canary.rule.threshold - canary.rule.nonInferiorityMargin}, reject below it or after ${canary.rule.maxComparisons} verdicts`,
  );

  let asked = 0;
  const traffic = mapConcurrent(questions, 2, async (question, index) => {
    if (!(await inCanary())) return;
    await post(options.url, options.keys.app, "/v1/chat/completions", {
      model: options.modelName,
      messages: [{ role: "user", content: question }],
      max_tokens: canaryTokens,
      temperature: 0.7,
      seed: 2000 + index,
    });
    asked++;
  });
  const verdicts = { a: 0, b: 0, tie: 0 };
  let lastLook = -1;
  // The trainer's latest look, printed when it has read new verdicts.
  const showLook = async () => {
    const look = (await canariesOf(database.db, options.modelName, 1))[0]?.evidence;
    if (!look || look.comparisons === lastLook) return;
    lastLook = look.comparisons;
    say(
      "canary",
      `the trainer's look: ${look.comparisons} verdicts (${look.wins} for v${candidate?.version ?? "?"}, ${look.ties} tied, ${look.losses} for v${champion?.version ?? "?"}), win rate ${look.winRate?.toFixed(2) ?? "–"} [${look.lower.toFixed(2)}, ${look.upper.toFixed(2)}]`,
    );
  };
  const judging = (async () => {
    while ((await inCanary()) && Date.now() < deadline) {
      const response = await fetch(`${options.url}/review/compare`, {
        headers: { cookie: `medgate_review=${options.keys.clinician}` },
      });
      if (!response.ok) throw new Error(`/review/compare answered ${response.status}`);
      const pair = comparePagePair(await response.text());
      if (!pair) {
        // Pairs are made at the trainer's looks (every 10 s).
        await showLook();
        await sleep(1000);
        continue;
      }
      const preference = clinicianPreference(pair.a.text, pair.b.text, options.advice);
      await post(options.url, options.keys.clinician, "/v1/feedback", {
        type: "preference",
        completion_id: pair.a.id,
        other_completion_id: pair.b.id,
        preference,
      });
      verdicts[preference]++;
      say(
        "canary",
        `${asked}/${questions.length} asked; the clinician's verdict ${verdicts.a + verdicts.b + verdicts.tie}, blind: ${preference === "tie" ? "a tie" : `answer ${preference.toUpperCase()} is better`}`,
      );
    }
  })();
  await Promise.all([traffic, judging]);
  const ended = (await canariesOf(database.db, options.modelName)).find((row) => row.id === canary.id)!;
  const evidence = ended.evidence;
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (ended.state === "running") {
    say("canary", `still running after ${seconds} s; the trainer decides at its next look`);
  } else if (evidence) {
    say(
      "canary",
      `${ended.state} after ${seconds} s (audited): ${evidence.comparisons} verdicts, ${evidence.wins} won, ${evidence.ties} tied, ${evidence.losses} lost; win rate ${evidence.winRate?.toFixed(2) ?? "–"}, interval [${evidence.lower.toFixed(2)}, ${evidence.upper.toFixed(2)}]: ${evidence.cause}`,
    );
    say(
      "canary",
      ended.state === "promoted"
        ? `v${candidate?.version ?? "?"} is the champion: the clinician preferred it on live questions`
        : `v${candidate?.version ?? "?"} is not promoted: v${champion?.version ?? "?"} keeps serving everyone`,
    );
  }
  return ended;
}

/** POSTs `body` as JSON to `url` + `path` with `key`; a refusal throws with the status and the start of the body. */
export async function post(url: string, key: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as unknown;
  if (!response.ok)
    throw new Error(`${path} answered ${response.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
