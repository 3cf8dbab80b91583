// The serve process's configuration: one zod schema over flags and MEDGATE_* environment variables,
// parsed once at start. Flags win over the environment; every option documents its default.
import { z } from "zod";

const positiveInt = z.coerce.number().int().positive();

/** Where the database is: PostgreSQL at a URL, or embedded PGlite in a folder. */
export const databaseConfigSchema = z.object({
  /** PostgreSQL connection string (read from DATABASE_URL). Default: none, so PGlite is used */
  databaseUrl: z.string().min(1).optional(),
  /** PGlite's data folder when no database URL is set. Default: .medgate/db */
  dataDir: z.string().min(1).default(".medgate/db"),
});
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;

const positiveIntText = z.coerce.number().int().positive();

/** `medgate round run` and `medgate trainer`. */
export const trainerConfigSchema = databaseConfigSchema.extend({
  /** Where rounds keep datasets, checkpoints and GGUFs. Default: .medgate/rounds */
  workDir: z.string().min(1).default(".medgate/rounds"),
  /** A JSON file with the round configuration (see trainer/roundConfig.ts). Default: none, all defaults */
  roundConfig: z.string().min(1).optional(),
  /** `medgate trainer`: start a round once this many new distinct prompts were logged. Default: 200 */
  minNewPrompts: positiveIntText.default(200),
  /** `medgate trainer`: also start a round this often when at least one new prompt exists (e.g. 24h). Default: none */
  every: z
    .string()
    .regex(/^\d+(s|m|h|d)$/u, "must be a duration such as 30m, 12h or 7d")
    .optional(),
  /** `medgate trainer`: how often to look at the database. Default: 60s */
  poll: z
    .string()
    .regex(/^\d+(s|m|h)$/u, "must be a duration such as 30s or 5m")
    .default("60s"),
});
export type TrainerConfig = z.infer<typeof trainerConfigSchema>;

/** Where response-log records wait while the database is unreachable; one process per folder. Default: .medgate/spool */
const spoolDir = z.string().min(1).default(".medgate/spool");

/** `medgate logs`: the database, and the gateway's spool folder (where refused rows are set aside). */
export const logsConfigSchema = databaseConfigSchema.extend({ spoolDir });

/** Milliseconds of a duration such as 30s, 15m, 12h or 7d. */
export function durationMs(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/u.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a duration such as 30s, 15m, 12h or 7d.`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

export const serveConfigSchema = databaseConfigSchema.extend({
  /** GGUF path, hf: URI or catalog id. Default: the demo model "smollm2-135m-instruct" */
  model: z.string().min(1).default("smollm2-135m-instruct"),
  /** Name clients use in `model`. Default: the catalog id, or the GGUF file's base name */
  modelName: z.string().min(1).optional(),
  /** Interface to listen on. Default: 127.0.0.1 */
  host: z.string().min(1).default("127.0.0.1"),
  /** Port to listen on; 0 picks a free one. Default: 8080 */
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Requests generated at once, batched in one context. Default: 4 */
  parallel: positiveInt.default(4),
  /** llama.cpp threads. Default: 1 for models under 64 MB, else all math cores (measured; see README) */
  threads: positiveInt.optional(),
  /** Tokens per sequence. Default: the model's training context, at most 4096 */
  context: positiveInt.optional(),
  /** Requests that may wait for a free sequence before 429. Default: 64 */
  queue: z.coerce.number().int().min(0).default(64),
  /** Compute backend: auto, cpu, cuda, vulkan or metal. Default: auto */
  gpu: z.enum(["auto", "cpu", "cuda", "vulkan", "metal"]).default("auto"),
  /** Where GGUF files are looked up and downloaded to. Default: .medgate/models */
  modelsDir: z.string().min(1).default(".medgate/models"),
  /** System prompt for conversations without one. Default: the catalog's, else none */
  systemPrompt: z.string().optional(),
  /** Largest request body in bytes. Default: 4194304 (4 MiB) */
  bodyLimit: positiveInt.default(4 * 1024 * 1024),
  /** Longest wait for in-flight requests on SIGTERM, in ms. Default: 30000 */
  drainTimeout: z.coerce.number().int().min(0).default(30_000),
  spoolDir,
  /** Never download: a model missing locally is an error. Default: false */
  offline: z
    .union([
      z.boolean(),
      z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1"),
    ])
    .default(false),
  /** Hugging Face token for gated repos. Default: none (node-llama-cpp then looks for HF_TOKEN) */
  hfToken: z.string().optional(),
});

export type ServeConfig = z.infer<typeof serveConfigSchema>;

/** Environment variable for each option, e.g. `MEDGATE_PARALLEL` for `parallel`; `DATABASE_URL` as is. */
export function envNameOf(option: string): string {
  if (option === "databaseUrl") return "DATABASE_URL";
  return `MEDGATE_${option.replace(/[A-Z]/gu, (letter) => `_${letter}`).toUpperCase()}`;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses flags over the environment; a bad value fails with the option and its source named. */
export function parseOptions<Schema extends z.ZodObject>(
  schema: Schema,
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined>,
): z.infer<Schema> {
  const raw: Record<string, unknown> = {};
  for (const option of Object.keys(schema.shape)) {
    const fromEnv = env[envNameOf(option)];
    if (fromEnv !== undefined && fromEnv !== "") raw[option] = fromEnv;
    const fromFlag = flags[option];
    if (fromFlag !== undefined) raw[option] = fromFlag;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const option = String(issue.path[0] ?? "");
    const flag = `--${option.replace(/[A-Z]/gu, (letter) => `-${letter.toLowerCase()}`)}`;
    throw new ConfigError(`Invalid ${flag} (or ${envNameOf(option)}): ${issue.message}`);
  }
  return parsed.data;
}

export function parseServeConfig(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined>,
): ServeConfig {
  return parseOptions(serveConfigSchema, flags, env);
}
