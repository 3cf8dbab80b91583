// The upstreams file (`medgate serve --upstreams FILE`): which served names are answered by which
// OpenAI-compatible endpoints (vLLM, SGLang, llama-server, another medgate), each with its limits.
import { readFile } from "node:fs/promises";
import { z } from "zod";

const timeoutsSchema = z
  .strictObject({
    /** Longest wait for the response headers (queueing on the upstream included). */
    headersMs: z.number().int().positive().default(60_000),
    /** Longest silence between two chunks of a streamed answer. */
    idleMs: z.number().int().positive().default(60_000),
    /** Longest whole request. */
    totalMs: z.number().int().positive().default(900_000),
  })
  .prefault({});

export const upstreamSchema = z.strictObject({
  /** Named in the log (`upstream`), the gauges and errors. */
  name: z
    .string()
    .regex(/^[\w.-]{1,64}$/u, "letters, digits, '_', '.', '-' (at most 64)")
    .describe("Named in the log, the gauges and errors"),
  /** Base URL of its OpenAI API, with /v1: `http://10.0.0.5:8000/v1`. */
  url: z
    .url({ protocol: /^https?$/u })
    .transform((url) => url.replace(/\/+$/u, ""))
    .describe("Base URL of its OpenAI API, with /v1"),
  /** The model id requests carry on this upstream (a served model name, a LoRA adapter name). */
  model: z.string().min(1).describe("Model id on the upstream"),
  /** Environment variable holding its API key (sent as `Authorization: Bearer …`); none: no key. */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/u)
    .optional(),
  /** Share of the load relative to the others (least outstanding requests per weight). Default: 1 */
  weight: z.number().positive().default(1),
  /** Requests sent at once; at the limit on every upstream, clients get 429. Default: 64 */
  maxConcurrency: z.number().int().positive().default(64),
  timeouts: timeoutsSchema,
  /** GET path of the active health check under the server root (the URL without `/v1`): `/health`, `/v1/models`. */
  healthPath: z.string().startsWith("/").default("/health"),
});

export const upstreamModelSchema = z.strictObject({
  upstreams: z.array(upstreamSchema).min(1),
  /** Consecutive failures after which an upstream is ejected. Default: 3 */
  maxFailures: z.number().int().positive().default(3),
  /** How long an ejected upstream gets no requests (then health checks decide). Default: 30000 */
  ejectMs: z.number().int().positive().default(30_000),
  /** Time between active health checks. Default: 5000 */
  healthIntervalMs: z.number().int().positive().default(5_000),
  /**
   * How long a request retried after an upstream failed (before any text) waits for a free place on another
   * one, when all the others are at their limits. Default: 60000
   */
  retryWaitMs: z.number().int().min(0).default(60_000),
});

export const upstreamsFileSchema = z.strictObject({
  /** Served name → its upstreams. */
  models: z
    .record(z.string().min(1), upstreamModelSchema)
    .refine((models) => Object.keys(models).length > 0, {
      message: "name at least one model",
    }),
});

export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type UpstreamModelConfig = z.infer<typeof upstreamModelSchema>;
export type UpstreamsFile = z.infer<typeof upstreamsFileSchema>;

export class UpstreamsFileError extends Error {
  override name = "UpstreamsFileError";
}

/**
 * Reads and checks an upstreams file, and the API keys its upstreams name from `env`: a missing file, bad
 * JSON, a bad field or an unset key variable fails with the file and the field named.
 */
export async function readUpstreamsFile(
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ file: UpstreamsFile; apiKeys: Map<UpstreamConfig, string | undefined> }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UpstreamsFileError(`Cannot read the upstreams file ${path}: ${(error as Error).message}`);
  }
  return parseUpstreamsFile(text, path, env);
}

export function parseUpstreamsFile(
  text: string,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): { file: UpstreamsFile; apiKeys: Map<UpstreamConfig, string | undefined> } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UpstreamsFileError(`${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = upstreamsFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    throw new UpstreamsFileError(`${path}: ${where}: ${issue.message}`);
  }
  const apiKeys = new Map<UpstreamConfig, string | undefined>();
  for (const [name, model] of Object.entries(parsed.data.models)) {
    const seen = new Set<string>();
    for (const upstream of model.upstreams) {
      if (seen.has(upstream.name)) {
        throw new UpstreamsFileError(`${path}: models.${name}: two upstreams are named "${upstream.name}".`);
      }
      seen.add(upstream.name);
      const key = upstream.apiKeyEnv ? env[upstream.apiKeyEnv] : undefined;
      if (upstream.apiKeyEnv && !key) {
        throw new UpstreamsFileError(
          `${path}: models.${name}: the key variable ${upstream.apiKeyEnv} of upstream "${upstream.name}" is not set.`,
        );
      }
      apiKeys.set(upstream, key);
    }
  }
  return { file: parsed.data, apiKeys };
}
