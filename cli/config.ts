// The command line's configuration: every option declared once, as a zod field with its help, flag and
// environment variable (`--parallel` ↔ `MEDGATE_PARALLEL`); commands build their schemas from these fields,
// and flags and help are generated from the schemas (cli/commandLine.ts). This is the one module that reads
// the process environment.
import { hostname } from "node:os";
import { z } from "zod";

/** What the command line shows of an option, beyond its zod type. */
export type OptionMeta = {
  /** Help text; the default is added after it. */
  help: string;
  /** The value's name in help (`N`, `DIR`, `URL`). Default: VALUE (none for a boolean) */
  value?: string;
  /** The default as help says it, where the schema computes it. Default: the schema's default, or none */
  defaultText?: string;
  /** Read from this environment variable. Default: MEDGATE_<OPTION>; false for no variable */
  env?: string | false;
  /** A one-letter alias. */
  short?: string;
};

export const optionMeta = z.registry<OptionMeta>();

/** Declares an option: the zod schema of its value, with what the command line shows of it. */
export function option<T extends z.ZodType>(schema: T, meta: OptionMeta): T {
  optionMeta.add(schema, meta);
  return schema;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Environment variable for each option, e.g. `MEDGATE_PARALLEL` for `parallel`; `DATABASE_URL` as is. */
export function envNameOf(option: string): string {
  const declared = option === "databaseUrl" ? "DATABASE_URL" : undefined;
  return declared ?? `MEDGATE_${option.replace(/[A-Z]/gu, (letter) => `_${letter}`).toUpperCase()}`;
}

/** The variable an option of `schema` is read from, or undefined when it has none. */
export function envOf(schema: z.ZodObject, key: string): string | undefined {
  const meta = optionMeta.get(schema.shape[key] as z.ZodType);
  if (meta?.env === false) return undefined;
  return meta?.env ?? envNameOf(key);
}

/** The environment the process was started with. */
export function processEnvironment(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

/** Who runs a command that writes the audit log: `user@host (cli)`. */
export function operator(): string {
  return `${process.env.USER ?? "unknown"}@${hostname()} (cli)`;
}

/** Parses flags over the environment; a bad value fails with the option's flag and variable named. */
export function parseOptions<Schema extends z.ZodObject>(
  schema: Schema,
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>> = processEnvironment(),
): z.infer<Schema> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    const variable = envOf(schema, key);
    const fromEnv = variable === undefined ? undefined : env[variable];
    if (fromEnv !== undefined && fromEnv !== "") raw[key] = fromEnv;
    if (flags[key] !== undefined) raw[key] = flags[key];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    const variable = envOf(schema, key);
    if (raw[key] === undefined) throw new ConfigError(`${flagOf(key)} is required.`);
    throw new ConfigError(`Invalid ${flagOf(key)}${variable ? ` (or ${variable})` : ""}: ${issue.message}`);
  }
  return parsed.data;
}

/** `--drain-timeout` for `drainTimeout`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/gu, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** Milliseconds of a duration such as 30s, 15m, 12h or 7d. */
export function durationMs(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/u.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a duration such as 30s, 15m, 12h or 7d.`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

const positiveInt = z.coerce.number().int().positive();
/** A boolean flag, or its variable as true/false/1/0 (a new schema per option: each carries its own help). */
const flag = () =>
  z
    .union([
      z.boolean(),
      z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1"),
    ])
    .default(false);

// Where the database is: PostgreSQL at a URL, or embedded PGlite in a folder.
export const databaseOptions = {
  databaseUrl: option(z.string().min(1).optional(), {
    help: "PostgreSQL connection string",
    value: "URL",
    defaultText: "none, embedded PGlite",
  }),
  dataDir: option(z.string().min(1).default(".medgate/db"), { help: "PGlite's data folder", value: "DIR" }),
};
export const databaseConfigSchema = z.object(databaseOptions);
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;

/** The response log's spool folder; serve derives it when it is not given (see `spoolDirOf`). */
export const spoolDir = option(z.string().min(1).optional(), {
  help: "Where response-log records wait while the database is down (one process per folder)",
  value: "DIR",
  defaultText: "beside the PGlite folder (DIR-spool), or .medgate/spool/<database>-<port> on PostgreSQL",
});

// How llama.cpp runs a model, for every command that loads one.
export const engineOptions = {
  parallel: option(positiveInt.default(4), {
    help: "Requests (or questions) computed at once, batched",
    value: "N",
  }),
  threads: option(positiveInt.optional(), {
    help: "llama.cpp threads",
    value: "N",
    defaultText: "1 for models under 64 MB, else all cores (serve's in-process engine: all but one)",
  }),
  context: option(positiveInt.optional(), {
    help: "Tokens per sequence",
    value: "N",
    defaultText: "the model's training context, at most 4096",
  }),
  gpu: option(z.enum(["auto", "cpu", "cuda", "vulkan", "metal"]).default("auto"), {
    help: "Compute backend",
    value: "auto|cpu|cuda|vulkan|metal",
  }),
};

// Where a served model comes from and what clients call it.
export const modelSourceOptions = {
  model: option(z.string().min(1).default("smollm2-135m-instruct"), {
    help: "GGUF path, hf: URI (hf:user/repo:Q4_K_M, hf:user/repo/file.gguf) or catalog id",
    value: "M",
  }),
  modelName: option(z.string().min(1).optional(), {
    help: 'Name clients send in "model"',
    value: "NAME",
    defaultText: "catalog id or file name",
  }),
  modelsDir: option(z.string().min(1).default(".medgate/models"), {
    help: "Where models are found and downloaded to",
    value: "DIR",
  }),
};

/** A TCP port; a new schema per option, since each option carries its own help. */
export function portNumber() {
  return z.coerce.number().int().min(0).max(65535).default(8080);
}

// Where the gateway listens.
export const listenOptions = {
  host: option(z.string().min(1).default("127.0.0.1"), { help: "Interface to listen on", value: "HOST" }),
  port: option(portNumber(), { help: "Port (0 = any free)", value: "N" }),
};

/**
 * OpenTelemetry, configured the standard way (the OTEL_* variables): with no OTLP endpoint there is no
 * exporter and no tracing cost; metrics are still kept for `GET /metrics` unless the SDK is disabled.
 */
export const telemetryOptions = {
  otlpEndpoint: option(z.string().url().optional(), {
    help: "OTLP/HTTP collector: traces go to URL/v1/traces, metrics to URL/v1/metrics",
    value: "URL",
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    defaultText: "none: no export, no tracing",
  }),
  serviceName: option(z.string().min(1).default("medgate"), {
    help: "service.name of the exported telemetry",
    value: "NAME",
    env: "OTEL_SERVICE_NAME",
  }),
  tracesSampler: option(
    z
      .enum([
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
      ])
      .default("parentbased_always_on"),
    { help: "Which traces are recorded", value: "SAMPLER", env: "OTEL_TRACES_SAMPLER" },
  ),
  tracesSamplerArg: option(z.coerce.number().min(0).max(1).default(1), {
    help: "The ratio of the traceidratio samplers",
    value: "RATIO",
    env: "OTEL_TRACES_SAMPLER_ARG",
  }),
  otelDisabled: option(flag(), {
    help: "No traces and no metrics at all (GET /metrics answers 404)",
    env: "OTEL_SDK_DISABLED",
  }),
  traceMessageContent: option(flag(), {
    help: "Put conversations and answers on chat spans (patient data: off unless asked for)",
    env: "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
  }),
};
export type TelemetryConfig = z.infer<z.ZodObject<typeof telemetryOptions>>;

/** A role's default limit: requests or generated tokens per minute of each key that sets none of its own. */
function roleLimit(role: string, limit: "rpm" | "tpm") {
  const what = limit === "rpm" ? "Requests" : "Generated tokens";
  return option(positiveInt.optional(), {
    help: `${what} per minute of each ${role} key without a limit of its own (keys create|update --${limit})`,
    value: "N",
    defaultText: "none, no limit",
  });
}

// The per-key limits of keys that set none of their own, per role (docs/keys-and-patient-data.md, "Limits").
export const keyLimitOptions = {
  clientRpm: roleLimit("client", "rpm"),
  clientTpm: roleLimit("client", "tpm"),
  clinicianRpm: roleLimit("clinician", "rpm"),
  clinicianTpm: roleLimit("clinician", "tpm"),
  adminRpm: roleLimit("admin", "rpm"),
  adminTpm: roleLimit("admin", "tpm"),
};

/** A comma-separated list of names (`a, b`), e.g. of groups. */
const nameList = () =>
  z.string().transform((text) =>
    text
      .split(",")
      .map((name) => name.trim())
      .filter(Boolean),
  );
/** A duration such as 30m, 12h or 7d (see `durationMs`). */
const duration = (fallback: string) =>
  z
    .string()
    .regex(/^\d+(s|m|h|d)$/u, "must be a duration such as 30m, 12h or 7d")
    .default(fallback);

// Sign-in to the pages through the hospital's identity provider (docs/sign-in.md). Without an issuer, the pages
// sign in with API keys.
export const ssoOptions = {
  oidcIssuer: option(z.string().url().optional(), {
    help: "OpenID Connect issuer the review pages and dashboard sign in through (Entra ID, Keycloak, Okta...)",
    value: "URL",
    defaultText: "none: the pages sign in with API keys",
  }),
  oidcClientId: option(z.string().min(1).optional(), {
    help: "medgate's client id at the identity provider",
    value: "ID",
    defaultText: "none",
  }),
  oidcClientSecret: option(z.string().min(1).optional(), {
    help: "The client's secret; rather set the variable or use --oidc-client-secret-file, since a flag shows in the process list",
    value: "SECRET",
    defaultText: "none",
  }),
  oidcClientSecretFile: option(z.string().min(1).optional(), {
    help: "A file holding the client's secret (a mounted secret), read at start",
    value: "FILE",
    defaultText: "none",
  }),
  oidcRedirectUrl: option(z.string().url().optional(), {
    help: "This gateway's /auth/callback as browsers reach it, registered at the provider (https://medgate.example.org/auth/callback)",
    value: "URL",
    defaultText: "none",
  }),
  oidcScope: option(z.string().min(1).default("openid profile email"), {
    help: "Scopes asked of the provider (add the one that releases groups, if the provider has one)",
    value: "SCOPES",
  }),
  oidcGroupsClaim: option(z.string().min(1).default("groups"), {
    help: "The ID token or userinfo claim that holds a person's groups or roles; a dotted path reads inside objects (realm_access.roles)",
    value: "CLAIM",
  }),
  oidcClinicianGroups: option(nameList().optional(), {
    help: "Groups (comma-separated, as the claim writes them) whose members sign in as clinicians",
    value: "GROUPS",
    defaultText: "none",
  }),
  oidcAdminGroups: option(nameList().optional(), {
    help: "Groups (comma-separated, as the claim writes them) whose members sign in as admins",
    value: "GROUPS",
    defaultText: "none",
  }),
  sessionMaxAge: option(duration("12h"), {
    help: "How long a person's session lasts after signing in through the provider, however active",
    value: "DURATION",
  }),
  sessionIdle: option(duration("30m"), {
    help: "How long a person's session lasts unused",
    value: "DURATION",
  }),
  ssoOnly: option(flag(), {
    help: "With --oidc-issuer: the pages no longer take API keys to sign in (keys keep working on /v1)",
  }),
};

// Which engine generates chat, for serve and the demo (cli/chatEngineChoice.ts).
export const chatEngineOptions = {
  engine: option(z.enum(["auto", "node-llama-cpp", "llama-server"]).default("auto"), {
    help: "What generates chat answers: node-llama-cpp in this process, or a llama-server child process medgate starts, restarts and swaps; auto: llama-server where one is built, else node-llama-cpp while one builds in the background (--llama-server-build), moving to it when ready, or for good where none can be built. Scoring stays in this process",
    value: "auto|node-llama-cpp|llama-server",
  }),
  llamaServer: option(z.string().min(1).optional(), {
    help: "The llama-server executable for --engine llama-server or auto",
    value: "PATH",
    defaultText: "scripts/build-llama-server.sh's cached build, else llama-server on PATH",
  }),
  llamaServerBuild: option(z.string().min(1).optional(), {
    help: 'With --engine auto and no llama-server: the bash script that builds one in the background into the cache --llama-server looks in; "off" never builds',
    value: "SCRIPT|off",
    defaultText: "scripts/build-llama-server.sh where cmake and a C++ compiler are installed",
  }),
};

export const serveConfigSchema = z.object({
  ...modelSourceOptions,
  ...listenOptions,
  ...engineOptions,
  ...chatEngineOptions,
  queue: option(z.coerce.number().int().min(0).default(64), {
    help: "Requests that may wait for a sequence before 429",
    value: "N",
  }),
  ...keyLimitOptions,
  systemPrompt: option(z.string().optional(), {
    help: "System prompt for conversations without one",
    value: "S",
    defaultText: "the catalog's",
  }),
  bodyLimit: option(positiveInt.default(4 * 1024 * 1024), {
    help: "Largest request body in bytes",
    value: "N",
  }),
  drainTimeout: option(z.coerce.number().int().min(0).default(30_000), {
    help: "Wait for in-flight requests on SIGTERM, in ms",
    value: "MS",
  }),
  offline: option(flag(), { help: "Never download; a missing model is an error" }),
  upstreams: option(z.string().min(1).optional(), {
    help: "JSON file of model names answered by upstream OpenAI-compatible engines (vLLM, SGLang, llama-server)",
    value: "FILE",
    defaultText: "none",
  }),
  upstreamsOnly: option(flag(), {
    help: "With --upstreams: load no model in this process, serve only the upstreams' names",
  }),
  hfToken: option(z.string().optional(), {
    help: "Hugging Face token for gated repos",
    value: "TOKEN",
    defaultText: "HF_TOKEN if set",
  }),
  ...databaseOptions,
  spoolDir,
  ...ssoOptions,
  traceViewer: option(z.string().min(1).default("http://localhost:16686/trace/{traceId}"), {
    help: "Link of a trace in the admin dashboard ({traceId} is replaced)",
    value: "URL",
  }),
  ...telemetryOptions,
});
export type ServeConfig = z.infer<typeof serveConfigSchema>;

// Where rounds keep their work and how they are configured.
export const roundOptions = {
  roundConfig: option(z.string().min(1).optional(), {
    help: "Round configuration JSON (judge, candidates, dpo {...}, ggufType...)",
    value: "FILE",
    defaultText: "built-in defaults for 7–8B models",
  }),
  workDir: option(z.string().min(1).default(".medgate/rounds"), {
    help: "Datasets, checkpoints and GGUFs",
    value: "DIR",
  }),
};

export function parseServeConfig(
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): ServeConfig {
  return parseOptions(serveConfigSchema, flags, env);
}

/**
 * The spool folder a gateway uses: the one given, else one derived from where its data lives, so that two
 * gateways on one machine (two PGlite folders, or two ports on one PostgreSQL) never share one.
 */
export function spoolDirOf(config: DatabaseConfig & { spoolDir?: string; port?: number }): string {
  if (config.spoolDir) return config.spoolDir;
  if (!config.databaseUrl) return `${config.dataDir.replace(/[/\\]+$/u, "")}-spool`;
  const url = new URL(config.databaseUrl);
  const database = `${url.hostname}-${url.port || "5432"}-${url.pathname.replace(/^\//u, "") || "postgres"}`;
  return `.medgate/spool/${database.replace(/[^\w.-]+/gu, "_")}-${config.port ?? 8080}`;
}
