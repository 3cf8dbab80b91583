// The gate's answer evaluation as a round config writes it (`gate.answers`): the probe sets and their checks, how
// both models answer, and which judge compares the answers.
import { z } from "zod";
import { answerCheckSchema } from "./answerChecks.ts";

/** The name under which the round's own held-out prompts are reported (and given checks). */
export const heldoutProbeSet = "heldout";

export const probeSetConfigSchema = z
  .strictObject({
    /** The probe set's name in reports and stored answers; `heldout` names the round's held-out prompts. */
    name: z.string().regex(/^[\w.-]{1,64}$/u, "letters, digits, '.', '-' and '_', at most 64"),
    /** A JSON-lines file of conversations that never enters training; none for `heldout`. */
    path: z.string().min(1).optional(),
    /** Checks every answer to the set's prompts must pass (trainer/eval/answerChecks.ts). Default: none */
    checks: z.array(answerCheckSchema).default([]),
  })
  .refine((set) => (set.name === heldoutProbeSet) === (set.path === undefined), {
    path: ["path"],
    message: `a probe set needs a path, except "${heldoutProbeSet}" (the round's held-out prompts), which has none`,
  });

export type ProbeSetConfig = z.infer<typeof probeSetConfigSchema>;

const judgeModelSchema = z.union([
  z.strictObject({ gguf: z.string().min(1) }),
  z.strictObject({
    endpoint: z.strictObject({
      url: z.url(),
      model: z.string().min(1),
      apiKeyEnv: z.string().min(1).optional(),
    }),
  }),
]);

export const answersConfigSchema = z
  .strictObject({
    /** Generate and compare answers in the gate. Default: true */
    enabled: z.boolean().default(true),
    /** Probe sets besides the round's held-out prompts, which are always asked. Default: none */
    probeSets: z
      .array(probeSetConfigSchema)
      .default([])
      .refine((sets) => new Set(sets.map((set) => set.name)).size === sets.length, {
        message: "probe set names must be unique",
      }),
    /** Answers per prompt and model: 1 is greedy; k > 1 samples at `temperature` with seeds shared by both models. */
    samples: z.number().int().min(1).max(16).default(1),
    /** Sampling temperature when `samples` > 1. Default: the round's `temperature` */
    temperature: z.number().gt(0).max(2).optional(),
    /** Most tokens per answer. Default: the round's `maxTokens` */
    maxTokens: z.number().int().positive().optional(),
    /** Most prompts taken from each probe set (the first ones). Default: all */
    limit: z.number().int().positive().optional(),
    /**
     * The pairwise judge of the answers: a GGUF here, or an OpenAI-compatible endpoint (a larger model). Default:
     * the round's judge, when the judging step used it (it met `judgeAgreement`); else answers are not judged
     */
    answerJudge: judgeModelSchema.optional(),
  })
  .prefault({});

export type AnswersConfig = z.infer<typeof answersConfigSchema>;
