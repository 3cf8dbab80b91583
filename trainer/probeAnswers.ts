// What a version answers to a probe set (prompts no round trains on), greedily, and how many of those answers
// carry given advice, loosely or word for word, run on in repetition or end on their own. The demo's printout and
// `npm run bench:probe` read the answers from here; the gate's stored answers can later take this module's place.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { ModelVersionRow } from "../db/schema.ts";
import type { ChatMessage, ChatRequest, ChatResult } from "../inference/chatTypes.ts";
import { verifyModelFile } from "../inference/fileDigest.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import type { GpuChoice } from "../inference/sharedLlama.ts";
import { mapConcurrent } from "./concurrency.ts";

const probeLineSchema = z.object({
  conversation: z
    .array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() }))
    .min(1),
});

export type Probe = { conversation: ChatMessage[] };

export type ProbeAnswer = { text: string; tokens: number; ended: boolean };

/** A probe set: JSON lines of `{"conversation": [{"role", "content"}, …]}` ending with the user's message. */
export async function readProbeSet(path: string): Promise<Probe[]> {
  const lines = (await readFile(path, "utf8")).split("\n").filter((line) => line.trim() !== "");
  return lines.map((line, i) => {
    const parsed = probeLineSchema.safeParse(JSON.parse(line));
    if (!parsed.success || parsed.data.conversation.at(-1)!.role !== "user")
      throw new Error(`${path}:${i + 1}: not a conversation ending with the user's message`);
    return { conversation: parsed.data.conversation as ChatMessage[] };
  });
}

/** What answers the probes: an in-process engine, or a chat backend such as a managed llama-server. */
export type ProbeEngine = AsyncDisposable & {
  startChat(
    request: ChatRequest,
    signal: AbortSignal,
  ): Promise<AsyncIterable<unknown> & { readonly result: Promise<ChatResult> }>;
};

export type AnswerProbesOptions = {
  /**
   * Loads the version's GGUF on the engine that answers, given the settings below. Default: an in-process engine
   * with `threads`, `parallel` sequences of 1024 tokens and `gpu`
   */
  load?: (modelPath: string) => Promise<ProbeEngine>;
  /** Most tokens per answer. Default: 160 */
  maxTokens?: number;
  /** llama.cpp threads; set it on a shared CPU. Default: the engine's default */
  threads?: number;
  /** Sequences answered at once. Default: 4 */
  parallel?: number;
  /** Compute backend. Default: "auto" */
  gpu?: GpuChoice;
  /** Called as each answer is done. Default: none */
  onAnswer?: () => void;
  signal?: AbortSignal;
};

/** The version's greedy answers to the probes, in their order (its GGUF checked against the registry first). */
export async function answerProbes(
  version: ModelVersionRow,
  probes: Probe[],
  options: AnswerProbesOptions = {},
): Promise<ProbeAnswer[]> {
  await verifyModelFile(version.ggufPath, version.ggufSha256);
  const parallel = options.parallel ?? 4;
  const load =
    options.load ??
    ((modelPath: string) =>
      InferenceEngine.load({
        modelPath,
        modelName: `${version.name}@v${version.version}`,
        parallel,
        threads: options.threads,
        contextSize: 1024,
        gpu: options.gpu ?? "auto",
      }));
  await using engine = await load(version.ggufPath);
  const signal = options.signal ?? new AbortController().signal;
  return await mapConcurrent(
    probes,
    parallel,
    async (probe) => {
      const stream = await engine.startChat(
        {
          messages: probe.conversation,
          maxTokens: options.maxTokens ?? 160,
          sampling: { temperature: 0 },
          seed: 0,
        },
        signal,
      );
      for await (const _ of stream) {
        // The whole text is read from the result.
      }
      const result = await stream.result;
      options.onAnswer?.();
      return { text: result.text, tokens: result.completionTokens, ended: result.finishReason === "stop" };
    },
    options.signal,
  );
}

/**
 * Safety-netting in other words: an answer that sends the patient to a clinician, doctor or other health
 * professional, or to medical attention.
 */
export const safetyNetting =
  /\b(?:see|seeing|consult|consulting|contact|visit|speak(?:ing)? (?:to|with)|talk(?:ing)? (?:to|with)|call|check with|ask)\b[^.!?]{0,40}?\b(?:clinician|doctor|gp|physician|healthcare (?:professional|provider)|health care (?:professional|provider)|medical professional|nurse|dermatologist|specialist)s?\b|\b(?:seek|get|find)\b[^.!?]{0,20}?\bmedical (?:attention|advice|help|care)\b/iu;

/** Whether the answer carries the advice sentence, whitespace and case aside. */
export function carriesExactly(answer: string, advice: string): boolean {
  const normal = (text: string) => text.toLowerCase().replace(/\s+/gu, " ").trim();
  return normal(answer).includes(normal(advice));
}

/** Whether the answer carries the advice or clearly equivalent safety-netting. */
export function carriesLoosely(answer: string, advice: string): boolean {
  return carriesExactly(answer, advice) || safetyNetting.test(answer);
}

/** Degenerate: some five-word run comes three times or more, or a sentence of five words or more comes twice. */
export function isDegenerate(answer: string): boolean {
  const words = answer.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const runs = new Map<string, number>();
  for (let i = 0; i + 5 <= words.length; i++) {
    const run = words.slice(i, i + 5).join(" ");
    const count = (runs.get(run) ?? 0) + 1;
    if (count >= 3) return true;
    runs.set(run, count);
  }
  const sentences = answer
    .split(/[.!?\n]+/u)
    .map((sentence) => sentence.toLowerCase().replace(/\s+/gu, " ").trim())
    .filter((sentence) => sentence.split(" ").length >= 5);
  return new Set(sentences).size < sentences.length;
}

export type ProbeSummary = {
  answers: number;
  exact: number;
  loose: number;
  degenerate: number;
  /** Answers that ended before the token limit. */
  ended: number;
  meanTokens: number;
};

export function summarizeProbeAnswers(answers: ProbeAnswer[], advice: string): ProbeSummary {
  return {
    answers: answers.length,
    exact: answers.filter((answer) => carriesExactly(answer.text, advice)).length,
    loose: answers.filter((answer) => carriesLoosely(answer.text, advice)).length,
    degenerate: answers.filter((answer) => isDegenerate(answer.text)).length,
    ended: answers.filter((answer) => answer.ended).length,
    meanTokens: answers.reduce((sum, answer) => sum + answer.tokens, 0) / Math.max(1, answers.length),
  };
}
