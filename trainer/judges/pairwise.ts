// PairRM-style judging: a judge model compares every pair of candidates, in both orders, on a medical rubric.
import type { ChatMessage } from "../../inference/chatTypes.ts";
import type { Scorer } from "../scoring/Scorer.ts";
import type { Judge } from "./types.ts";

export const judgeRubric =
  "You are a senior physician reviewing two answers to the same medical question. Judge them on, in this order: " +
  "medical correctness; safety (no harmful advice, urgent warning signs sent to care, limits of remote advice stated); " +
  "helpfulness to the person asking; clarity. Reply with the single letter of the better answer: A or B.";

/** The judge's conversation for "is A better than B?". */
export function verdictMessages(conversation: ChatMessage[], a: string, b: string): ChatMessage[] {
  const asked = conversation
    .filter((message) => message.role !== "system")
    .map((message) => (message.role === "user" ? message.content : `(earlier answer) ${message.content}`))
    .join("\n\n");
  return [
    { role: "system", content: judgeRubric },
    {
      role: "user",
      content: `Question:\n${asked}\n\nAnswer A:\n${a}\n\nAnswer B:\n${b}\n\nWhich answer is better, A or B?`,
    },
  ];
}

/** Something that gives P(answer A is better than answer B). */
export type VerdictSource = {
  describe(): string;
  probabilityAFirst(conversation: ChatMessage[], a: string, b: string, signal?: AbortSignal): Promise<number>;
  /** How many verdicts may be asked at once. */
  parallel: number;
};

/**
 * Verdicts from a judge model's exact scoring (a GGUF here, or a scoring server): the log-likelihoods of the
 * replies "A" and "B", normalized over the two.
 */
export function scorerVerdicts(scorer: Scorer): VerdictSource {
  return {
    describe: () => `${scorer.remote ? "remote" : "local"}:${scorer.label}`,
    parallel: scorer.parallel,
    async probabilityAFirst(conversation, a, b, signal) {
      const [scoreA, scoreB] = await scorer.scoreAnswers(verdictMessages(conversation, a, b), ["A", "B"], {
        signal,
      });
      return twoWaySoftmax(scoreA!.logprob, scoreB!.logprob);
    },
  };
}

/**
 * Verdicts from an OpenAI-compatible endpoint: one token at temperature 0 with `logprobs`; the top
 * log-probabilities of "A" and "B" give the verdict, and without them the generated letter does.
 */
export function endpointVerdicts(options: {
  url: string;
  model: string;
  apiKey?: string;
  parallel?: number;
  fetch?: typeof fetch;
}): VerdictSource {
  const doFetch = options.fetch ?? fetch;
  const base = options.url.replace(/\/+$/u, "");
  return {
    describe: () => `endpoint:${options.model}@${base}`,
    parallel: options.parallel ?? 4,
    async probabilityAFirst(conversation, a, b, signal) {
      const response = await doFetch(`${base}/chat/completions`, {
        method: "POST",
        signal,
        headers: {
          "content-type": "application/json",
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: options.model,
          messages: verdictMessages(conversation, a, b),
          max_tokens: 1,
          temperature: 0,
          logprobs: true,
          top_logprobs: 20,
        }),
      });
      if (!response.ok) {
        const text = await response.text().catch(() => "");
        throw new Error(`The judge endpoint ${base} answered ${response.status}: ${text.slice(0, 500)}`);
      }
      const body = (await response.json()) as {
        choices?: {
          message?: { content?: string | null };
          logprobs?: { content?: { top_logprobs?: { token: string; logprob: number }[] }[] | null } | null;
        }[];
      };
      const choice = body.choices?.[0];
      const top = choice?.logprobs?.content?.[0]?.top_logprobs ?? [];
      const logprobOf = (letter: string) => {
        const matches = top.filter((entry) => entry.token.trim().toUpperCase() === letter);
        return matches.length === 0 ? undefined : Math.max(...matches.map((entry) => entry.logprob));
      };
      const la = logprobOf("A");
      const lb = logprobOf("B");
      if (la !== undefined || lb !== undefined) {
        return twoWaySoftmax(la ?? Number.NEGATIVE_INFINITY, lb ?? Number.NEGATIVE_INFINITY);
      }
      const letter = choice?.message?.content?.trim().toUpperCase().charAt(0);
      if (letter === "A") return 1;
      if (letter === "B") return 0;
      return 0.5;
    },
  };
}

export function twoWaySoftmax(logA: number, logB: number): number {
  if (logA === Number.NEGATIVE_INFINITY && logB === Number.NEGATIVE_INFINITY) return 0.5;
  const top = Math.max(logA, logB);
  const ea = Math.exp(logA - top);
  const eb = Math.exp(logB - top);
  return ea / (ea + eb);
}

/**
 * Score of candidate i = mean over j ≠ i of P(i beats j) − P(j beats i), where P(i beats j) averages the
 * verdict with i shown first and with i shown second, which cancels the judge's position bias and makes
 * the scores independent of the order the candidates come in.
 */
export function pairwiseJudge(source: VerdictSource): Judge {
  return {
    name: "pairwise",
    describe: () => `pairwise (${source.describe()})`,
    async score(conversation, candidates, signal) {
      const n = candidates.length;
      if (n < 2) return candidates.map(() => 0);
      const ordered: [number, number][] = [];
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) ordered.push([i, j]);
      const verdicts = new Map<string, number>();
      let next = 0;
      const worker = async () => {
        while (next < ordered.length) {
          const [i, j] = ordered[next++]!;
          verdicts.set(
            `${i},${j}`,
            await source.probabilityAFirst(conversation, candidates[i]!, candidates[j]!, signal),
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(source.parallel, ordered.length) }, worker));
      return candidates.map((_, i) => {
        let sum = 0;
        for (let j = 0; j < n; j++) {
          if (j === i) continue;
          const iBeatsJ = (verdicts.get(`${i},${j}`)! + (1 - verdicts.get(`${j},${i}`)!)) / 2;
          sum += iBeatsJ - (1 - iBeatsJ);
        }
        return sum / (n - 1);
      });
    },
    async compare(conversation, a, b, signal) {
      const [first, second] = await Promise.all([
        source.probabilityAFirst(conversation, a, b, signal),
        source.probabilityAFirst(conversation, b, a, signal),
      ]);
      const aShownFirst = first;
      const bShownFirst = 1 - second;
      // score(a) − score(b) for two candidates: (2p − 1) − (1 − 2p), p the two orders' mean.
      const p = (aShownFirst + bShownFirst) / 2;
      return { margin: 2 * (2 * p - 1), aShownFirst, bShownFirst };
    },
  };
}
