// A round's configuration: every knob of selection, sampling, judging, DPO and conversion, with its default.
import { z } from "zod";
import { answersConfigSchema } from "./eval/answersConfig.ts";
import { gatePolicySchema } from "./eval/gatePolicy.ts";
import { protocols } from "./eval/protocols.ts";

const positiveInt = z.number().int().positive();

export const judgeEndpointSchema = z.strictObject({
  /** Base URL of an OpenAI-compatible API, e.g. https://host/v1. */
  url: z.url(),
  /** The `model` to ask. */
  model: z.string().min(1),
  /** Name of the environment variable holding its API key (the key itself is never stored). Default: none */
  apiKeyEnv: z.string().min(1).optional(),
});

/**
 * An OpenAI-compatible server that scores registered versions by model id (a medgate gateway, which loads
 * `NAME@vN` on demand; vLLM or SGLang serving the versions' `upstreamModel`): its `/tokenize` and the echo of
 * `/v1/completions`.
 */
export const scorerSchema = z.strictObject({
  /** Base URL, e.g. http://host:8000 (a trailing /v1 is allowed). */
  url: z.url({ protocol: /^https?$/u }),
  /** Name of the environment variable holding its API key (sent as a Bearer token). Default: none */
  apiKeyEnv: z.string().min(1).optional(),
  /** Requests in flight at once. Default: 4 */
  parallel: positiveInt.default(4),
  /** Milliseconds one request may take. Default: 600000 */
  timeoutMs: positiveInt.default(600_000),
});
export type ScorerConfig = z.infer<typeof scorerSchema>;

export const loraSchema = z.strictObject({
  r: positiveInt.default(16),
  alpha: z.number().positive().default(32),
  dropout: z.number().min(0).max(1).default(0.05),
  targetModules: z
    .array(z.string().min(1))
    .min(1)
    .default(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
});

/** DPO hyper-parameters; the defaults suit LoRA on a 7–8B model. */
export const dpoSchema = z.strictObject({
  beta: z.number().positive().default(0.1),
  learningRate: z.number().positive().default(5e-6),
  epochs: z.number().positive().default(1),
  batchSize: positiveInt.default(4),
  gradientAccumulationSteps: positiveInt.default(4),
  maxLength: positiveInt.default(1024),
  warmupRatio: z.number().min(0).max(1).default(0.1),
  seed: z.number().int().min(0).default(0),
  /** LoRA adapter settings, or null for full fine-tuning. */
  lora: loraSchema.nullable().default(loraSchema.parse({})),
  /** Optimizer steps to stop at, overriding `epochs`. Default: none (train `epochs`) */
  maxSteps: positiveInt.nullable().default(null),
  /** TRL loss types (`sigmoid` is the DPO paper's). Default: ["sigmoid"] */
  lossType: z.array(z.string().min(1)).min(1).default(["sigmoid"]),
  /** transformers' learning-rate schedule. Default: linear */
  lrSchedulerType: z.string().min(1).default("linear"),
  /** Metrics are reported every this many optimizer steps. Default: 1 */
  loggingSteps: positiveInt.default(1),
  /** Trade compute for memory (TRL's default). Default: true */
  gradientCheckpointing: z.boolean().default(true),
  /** Deterministic CUDA kernels (slower). Default: false */
  fullDeterminism: z.boolean().default(false),
  /** Train on the CPU, or null to use CUDA when it is there. Default: null */
  useCpu: z.boolean().nullable().default(null),
  /** Train in bfloat16, or null to do so on CUDA that supports it. Default: null */
  bf16: z.boolean().nullable().default(null),
  /** The saved checkpoint's dtype: `auto` keeps the starting checkpoint's. Default: auto */
  saveDtype: z.enum(["auto", "float32", "bfloat16", "float16"]).default("auto"),
  /** torch threads on CPU, or null for torch's choice. Default: null */
  threads: positiveInt.nullable().default(null),
  /** An `accelerate` config file: training is then started with `accelerate launch` (multi-GPU). */
  accelerateConfig: z.string().min(1).optional(),
});

/**
 * Supervised fine-tuning on the round's clinician corrections before DPO (TRL's SFTTrainer, loss on the answer's
 * tokens only); DPO then starts from its checkpoint, which is also DPO's reference. LoRA, threads, seed, dtype and
 * device settings are DPO's (`dpo`).
 */
export const sftSchema = z.strictObject({
  /** Run the step when the round holds corrections. Default: false */
  enabled: z.boolean().default(false),
  learningRate: z.number().positive().default(2e-5),
  epochs: z.number().positive().default(2),
  batchSize: positiveInt.default(4),
  gradientAccumulationSteps: positiveInt.default(1),
  maxLength: positiveInt.default(1024),
  warmupRatio: z.number().min(0).lt(1).default(0.03),
  /** Optimizer steps to stop at, overriding `epochs`. Default: none */
  maxSteps: positiveInt.nullable().default(null),
  /** Pack several corrections into each `maxLength` sequence (each keeps its own positions and attention). */
  packing: z.boolean().default(true),
  /** Fewest training corrections worth the step; fewer skips it. */
  minCorrections: positiveInt.default(4),
});

/** The benchmark gate a round's candidate must pass to replace the champion. */
export const gateConfigSchema = z
  .strictObject({
    /** Suite file (JSON naming benchmark files). Default: trainer/eval/suites/medical.json */
    suite: z.string().min(1).optional(),
    /** Most questions per benchmark. Default: all */
    limit: positiveInt.optional(),
    /** The evaluation protocol (trainer/eval/protocols.ts). Default: the suite's (lm-eval for the medical suite) */
    protocol: z.enum(protocols).optional(),
    /** Solved examples before each question (lm-eval only; med42 is zero-shot). */
    shots: z.number().int().min(0).default(0),
    /** Safety set (JSON lines of prompt, safe, harmful). Default: trainer/eval/suites/safety.jsonl */
    safetySet: z.string().min(1).optional(),
    /** The gate policy (tolerances, resamples...); see trainer/eval/gatePolicy.ts. Default: its defaults */
    policy: gatePolicySchema.prefault({}),
    /** Answers of candidate and champion to probe prompts, checked and judged (trainer/eval/answersConfig.ts). */
    answers: answersConfigSchema,
  })
  .refine((gate) => gate.protocol !== "med42" || gate.shots === 0, {
    path: ["shots"],
    message: "the med42 protocol is zero-shot: use shots 0, or protocol lm-eval",
  });

/** What the judge must show on the clinicians' pairs (trainer/judges/agreement.ts). Default: measured, nothing required */
export const judgeAgreementSchema = z.strictObject({
  /** Least share of the clinicians' decisive pairs on which the judge picks their answer; 0 requires nothing. */
  minAccuracy: z.number().min(0).max(1).default(0),
  /** Least Cohen's kappa (better/worse/tie); -1 requires nothing. */
  minKappa: z.number().min(-1).max(1).default(-1),
  /** Fewest clinician-labelled pairs a minimum can be met on. */
  minPairs: positiveInt.default(20),
  /** A judge below the minimum: the round trains on clinician pairs only, or fails with the reason. */
  onBelow: z.enum(["clinician-only", "fail"]).default("clinician-only"),
  /** Bootstrap resamples of the 95% intervals. */
  resamples: z.number().int().min(1000).default(2000),
});

/**
 * A canary stage after the offline gate: a candidate that passed is tried on live traffic and judged blind by
 * clinicians before it becomes the champion (docs/canary.md). Default: none, a passed candidate is promoted at once.
 */
export const canaryConfigSchema = z
  .strictObject({
    /** `split`: the candidate answers `share` of the requests itself; `shadow`: it answers them in the background. */
    mode: z.enum(["split", "shadow"]).default("split"),
    /** Share of the name's requests the candidate answers (split mode). Default: 0.1 */
    share: z.number().gt(0).max(1).default(0.1),
    /** Share of the name's requests the candidate also answers in the background (shadow mode). Default: 0.1 */
    shadowFraction: z.number().gt(0).max(1).default(0.1),
    /** The win rate against the champion (ties ½) the candidate must clear. Default: 0.5 (strictly better) */
    threshold: z.number().gt(0).lt(1).default(0.5),
    /** Lowers the threshold: 0.05 accepts a candidate at most 5 points worse. Default: 0 */
    nonInferiorityMargin: z.number().min(0).lt(0.5).default(0),
    /** Error rate of the decision, however often it is looked at. Default: 0.05 */
    alpha: z.number().gt(0).lt(1).default(0.05),
    /** Verdicts after which the timeout policy applies. Default: 200 */
    maxComparisons: positiveInt.default(200),
    /** How long the canary may run before the timeout policy applies (30m, 12h, 7d). Default: 7d */
    maxDuration: z
      .string()
      .regex(/^\d+(s|m|h|d)$/u, "must be a duration such as 30m, 12h or 7d")
      .default("7d"),
    /** Clinicians' verdicts a pair needs before it counts (the majority decides). Default: 1 */
    judgesPerPair: positiveInt.default(1),
    /** The candidate's failed or cancelled share may exceed the champion's by at most this. Default: 0.05 */
    maxErrorRateIncrease: z.number().min(0).max(1).default(0.05),
    /** Candidate answers needed before the error rates are compared. Default: 20 */
    minAnswersForErrorRate: positiveInt.default(20),
    /** At maxComparisons or maxDuration without a decision: keep the champion, or promote. Default: reject */
    onTimeout: z.enum(["reject", "promote"]).default("reject"),
    /**
     * The round's judge gives its verdict (both orders) on pairs no clinician has judged yet, reported apart: it
     * never counts in the decision, and a clinician's verdict on a pair replaces it. Only when the judge passed a
     * `judgeAgreement` requirement (a minAccuracy or minKappa); otherwise skipped, with the reason in the evidence.
     * Default: false
     */
    judgePrejudge: z.boolean().default(false),
  })
  .refine((canary) => canary.threshold - canary.nonInferiorityMargin > 0, {
    path: ["nonInferiorityMargin"],
    message: "the margin must leave a threshold above 0",
  });
export type CanaryConfig = z.infer<typeof canaryConfigSchema>;

/** Milliseconds of a duration such as 30s, 30m, 12h or 7d. */
export function canaryDurationMs(duration: string): number {
  const [, amount, unit] = /^(\d+)(s|m|h|d)$/u.exec(duration)!;
  const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as "s" | "m" | "h" | "d"];
  return Number(amount) * unitMs;
}

export const roundConfigSchema = z.strictObject({
  /** Most prompts a round takes (the newest first). */
  maxPrompts: positiveInt.default(2000),
  /** Fewest prompts worth a round; fewer fails the collecting step. */
  minPrompts: positiveInt.default(4),
  /** Candidates sampled from the champion per prompt. */
  candidates: z.number().int().min(2).default(4),
  temperature: z.number().min(0).max(2).default(0.8),
  topP: z.number().gt(0).max(1).default(0.95),
  maxTokens: positiveInt.default(512),
  /**
   * `pairwise`: a judge model compares every pair of candidates; `implicit-reward`: the champion's DPO
   * reward against the model it was trained from; `auto`: implicit-reward when the champion came from a
   * round, else pairwise.
   */
  judge: z.enum(["auto", "pairwise", "implicit-reward"]).default("auto"),
  /** The pairwise judge: a local GGUF, or an OpenAI-compatible endpoint. Default: the champion's own GGUF */
  judgeModel: z
    .union([z.strictObject({ gguf: z.string().min(1) }), z.strictObject({ endpoint: judgeEndpointSchema })])
    .optional(),
  /**
   * Where the judges (the champion as pairwise judge, or the implicit reward's champion and parent) and the gate
   * (benchmarks, safety set, held-out pairs) score: a server instead of GGUFs loaded here. Sampling stays here.
   * Default: none, every version is loaded here
   */
  scorer: scorerSchema.optional(),
  /** β of the implicit reward. Default: the DPO β */
  rewardBeta: z.number().positive().optional(),
  /** Pairs whose judge margin (best − worst score) is below this are dropped. */
  minMargin: z.number().min(0).default(0.05),
  /**
   * The judge checked against the clinicians before its pairs are used: it decides the round's clinician-labelled
   * pairs, and a judge whose agreement is below the minimum (or measured on fewer than `minPairs`) is not used.
   */
  judgeAgreement: judgeAgreementSchema.prefault({}),
  /** Share of pairs held out of training for checking the candidate. */
  heldoutFraction: z.number().min(0).lt(1).default(0.1),
  /** Fewest held-out pairs (when there are at least twice as many pairs). */
  minHeldout: z.number().int().min(0).default(4),
  /** Seed of sampling and of the held-out split. */
  seed: z.number().int().min(0).default(0),
  sft: sftSchema.prefault({}),
  dpo: dpoSchema.default(dpoSchema.parse({})),
  /** GGUF type of the converted candidate. */
  ggufType: z.enum(["f32", "f16", "q8_0"]).default("q8_0"),
  gate: gateConfigSchema.default(gateConfigSchema.parse({})),
  /** A canary stage after the gate (see `canaryConfigSchema`). Default: none */
  canary: canaryConfigSchema.optional(),
  /** llama.cpp settings for sampling and judging. */
  inference: z
    .strictObject({
      threads: positiveInt.optional(),
      parallel: positiveInt.default(4),
      contextSize: positiveInt.optional(),
      /** Compute backend, as `medgate serve --gpu`. */
      gpu: z.enum(["auto", "cpu", "cuda", "vulkan", "metal"]).default("auto"),
    })
    .default({ parallel: 4, gpu: "auto" }),
});

export type RoundConfig = z.infer<typeof roundConfigSchema>;
export type RoundConfigInput = z.input<typeof roundConfigSchema>;

/** Parses a round configuration (missing fields take their defaults); errors name the field. */
export function parseRoundConfig(input: unknown): RoundConfig {
  const result = roundConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const issues = result.error.issues
      .map((issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`)
      .join("; ");
    throw new RoundConfigError(`Invalid round config: ${issues}`);
  }
  return result.data;
}

export class RoundConfigError extends Error {
  override name = "RoundConfigError";
}
