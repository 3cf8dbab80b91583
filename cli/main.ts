// The medgate command line: parses the command and its flags, runs it, and turns failures into exit codes.
import { parseArgs } from "node:util";
import {
  ConfigError,
  databaseConfigSchema,
  logsConfigSchema,
  parseOptions,
  parseServeConfig,
  trainerConfigSchema,
} from "./config.ts";

const usage = `medgate — serve medical chat models behind an OpenAI-compatible API

Usage: medgate <command> [options]

Commands:
  demo       Run the whole loop on the demo model: serve, traffic, feedback, round, gate, promotion
  serve      Serve a GGUF chat model over the OpenAI API
  fixtures   Write the small test models
  db         Database maintenance (db migrate)
  keys       API keys (keys create | list | revoke)
  logs       The response log: retention and refused rows (logs prune --older-than 90d | logs rejected)
  models     The model registry (models register | list)
  promote    Make a version the champion without the gate (promote ID --force --reason "…")
  rollback   Return a model to its previous champion (rollback NAME --reason "…")
  eval       Score a model version on the medical benchmarks (eval run --model VERSION)
  round      Run one alignment round (round run --model NAME)
  rounds     Inspect rounds (rounds list | show ROUND)
  trainer    Run rounds as a service when enough new prompts arrive
  help       Show help for a command (medgate help serve)

Run "medgate <command> --help" for its options.`;

const serveUsage = `Usage: medgate serve [--model M] [options]

Serves one GGUF chat model at http://HOST:PORT/v1 (chat completions, models) with /health and /ready.
Prints the API URL on stdout once the model can answer.

Options (each also read from the environment variable in brackets; flags win):
  --model M          GGUF path, hf: URI (hf:user/repo:Q4_K_M, hf:user/repo/file.gguf) or catalog id
                     [MEDGATE_MODEL]  default: smollm2-135m-instruct (the demo model)
  --model-name NAME  Name clients send in "model"  [MEDGATE_MODEL_NAME]  default: catalog id or file name
  --host HOST        Interface to listen on  [MEDGATE_HOST]  default: 127.0.0.1
  --port N           Port (0 = any free)  [MEDGATE_PORT]  default: 8080
  --parallel N       Requests generated at once, batched together  [MEDGATE_PARALLEL]  default: 4
  --threads N        llama.cpp threads  [MEDGATE_THREADS]  default: 1 for models under 64 MB, else all cores
  --context N        Tokens per sequence  [MEDGATE_CONTEXT]  default: model's training context, at most 4096
  --queue N          Requests that may wait for a sequence before 429  [MEDGATE_QUEUE]  default: 64
  --gpu G            auto | cpu | cuda | vulkan | metal  [MEDGATE_GPU]  default: auto
  --models-dir DIR   Where models are found and downloaded to  [MEDGATE_MODELS_DIR]  default: .medgate/models
  --system-prompt S  System prompt for conversations without one  [MEDGATE_SYSTEM_PROMPT]  default: catalog's
  --body-limit N     Largest request body in bytes  [MEDGATE_BODY_LIMIT]  default: 4194304
  --drain-timeout MS Wait for in-flight requests on SIGTERM  [MEDGATE_DRAIN_TIMEOUT]  default: 30000
  --offline          Never download; a missing model is an error  [MEDGATE_OFFLINE]  default: off
  --hf-token TOKEN   Hugging Face token for gated repos  [MEDGATE_HF_TOKEN]  default: HF_TOKEN if set
  --database-url URL PostgreSQL connection string  [DATABASE_URL]  default: none, embedded PGlite
  --data-dir DIR     PGlite's data folder  [MEDGATE_DATA_DIR]  default: .medgate/db
  --spool-dir DIR    Where log records wait while the database is down  [MEDGATE_SPOOL_DIR]
                     default: .medgate/spool (one process per folder)
  -h, --help         Show this help

Every /v1 request needs an API key (Authorization: Bearer …). On a new embedded database, serve
creates one admin key and prints it once; make others with "medgate keys create".`;

const fixturesUsage = `Usage: medgate fixtures --out DIR

Deterministically writes the small models the tests use into DIR: a tiny Llama chat model as a
Hugging Face checkpoint (DIR/tiny-llama/) and as GGUF (DIR/tiny-llama.gguf), with DIR/manifest.json
listing every file's sha256. Needs the Python engine environment (npm run setup).

Options:
  --out DIR    Output folder (created if missing)
  -h, --help   Show this help`;

const databaseHelp = `Database options (each also read from the environment; flags win):
  --database-url URL  PostgreSQL connection string  [DATABASE_URL]  default: none, embedded PGlite
  --data-dir DIR      PGlite's data folder  [MEDGATE_DATA_DIR]  default: .medgate/db`;

const dbUsage = `Usage: medgate db migrate [database options]

Applies every committed migration not yet applied (the server also does this at start).

${databaseHelp}`;

const keysUsage = `Usage:
  medgate keys create --role client|clinician|admin --name NAME   prints the new key's secret once
  medgate keys list                                                id, prefix, role, name, dates
  medgate keys revoke ID_OR_PREFIX

Clients chat; clinicians chat and give feedback; admins do everything, including reading logs.
Only a sha256 of each key is stored.

${databaseHelp}`;

const roundRunUsage = `Usage: medgate round run --model NAME [options]

Runs one alignment round for the served model NAME, or resumes its unfinished round: prompts logged
since the previous round → K candidates from the champion → judge (pairwise, or the previous round's
implicit reward) with clinician judgements first → preference pairs and a dataset snapshot → DPO
(TRL, LoRA) → merged checkpoint → GGUF → a registered candidate version. Each step is stored before
the next; a killed run resumes where it stopped. Exits 1 if the round failed.

Options (each also read from the environment variable in brackets; flags win):
  --model NAME           Served model name; it needs a registered champion with --hf-dir
  --round-config FILE    Round configuration JSON (judge, candidates, dpo {...}, ggufType...)
                         [MEDGATE_ROUND_CONFIG]  default: built-in defaults for 7–8B models
  --work-dir DIR         Datasets, checkpoints and GGUFs  [MEDGATE_WORK_DIR]  default: .medgate/rounds
  --database-url URL     PostgreSQL connection string  [DATABASE_URL]  default: embedded PGlite
  --data-dir DIR         PGlite's data folder  [MEDGATE_DATA_DIR]  default: .medgate/db
  -h, --help             Show this help`;

const trainerUsage = `Usage: medgate trainer --model NAME [--model NAME2 ...] [options]

Runs as a service: resumes unfinished rounds, and starts a round for a model when enough new
prompts have been logged since its last round, or on a schedule. Stops on SIGINT/SIGTERM (a round
in progress stops between units of work and resumes at the next start).

Options (each also read from the environment variable in brackets; flags win):
  --model NAME           Served model name (repeatable)
  --min-new-prompts N    New distinct prompts that start a round  [MEDGATE_MIN_NEW_PROMPTS]  default: 200
  --every DURATION       Also start a round this often if any prompt is new (30m, 12h, 7d)  [MEDGATE_EVERY]
  --poll DURATION        How often to check  [MEDGATE_POLL]  default: 60s
  --round-config FILE    Round configuration JSON  [MEDGATE_ROUND_CONFIG]
  --work-dir DIR         [MEDGATE_WORK_DIR]  default: .medgate/rounds
  --database-url URL     [DATABASE_URL]     --data-dir DIR  [MEDGATE_DATA_DIR]
  -h, --help             Show this help

On the embedded database (PGlite) the folder belongs to one process: stop \`medgate serve\` first,
or use PostgreSQL so that gateways and the trainer share it.`;

const databaseFlags = {
  "database-url": { type: "string" },
  "data-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const trainerFlags = {
  ...databaseFlags,
  model: { type: "string", multiple: true },
  "round-config": { type: "string" },
  "work-dir": { type: "string" },
  "min-new-prompts": { type: "string" },
  every: { type: "string" },
  poll: { type: "string" },
} as const;

const serveFlags = {
  model: { type: "string" },
  "model-name": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  parallel: { type: "string" },
  threads: { type: "string" },
  context: { type: "string" },
  queue: { type: "string" },
  gpu: { type: "string" },
  "models-dir": { type: "string" },
  "system-prompt": { type: "string" },
  "body-limit": { type: "string" },
  "drain-timeout": { type: "string" },
  offline: { type: "boolean" },
  "hf-token": { type: "string" },
  "database-url": { type: "string" },
  "data-dir": { type: "string" },
  "spool-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function camelCase(flags: Record<string, unknown>): Record<string, string | boolean | undefined> {
  return Object.fromEntries(
    Object.entries(flags).map(([key, value]) => [
      key.replace(/-([a-z])/gu, (_match, letter: string) => letter.toUpperCase()),
      value as string | boolean | undefined,
    ]),
  );
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h": {
      const topic = rest[0];
      const topics: Record<string, string> = {
        serve: serveUsage,
        fixtures: fixturesUsage,
        db: dbUsage,
        keys: keysUsage,
        round: roundRunUsage,
        trainer: trainerUsage,
      };
      if (topic === "demo") topics.demo = (await import("./demoCommand.ts")).demoUsage;
      if (topic === "eval") topics.eval = (await import("./evalCommand.ts")).evalUsage;
      console.log(topics[topic ?? ""] ?? usage);
      return 0;
    }
    case "serve": {
      const { values } = parseArgs({ args: rest, options: serveFlags, strict: true });
      if (values.help) {
        console.log(serveUsage);
        return 0;
      }
      const { help: _help, ...flags } = values;
      const config = parseServeConfig(camelCase(flags), process.env);
      // Commands load lazily: serving never pulls in the trainer, and --help stays instant.
      const { serveCommand } = await import("./serveCommand.ts");
      await serveCommand(config);
      return 0;
    }
    case "fixtures": {
      const { values } = parseArgs({
        args: rest,
        options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
        strict: true,
      });
      if (values.help) {
        console.log(fixturesUsage);
        return 0;
      }
      if (!values.out) throw new ConfigError("fixtures needs --out DIR.");
      const { fixturesCommand } = await import("./fixturesCommand.ts");
      await fixturesCommand(values.out);
      return 0;
    }
    case "db": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: databaseFlags,
        allowPositionals: true,
      });
      if (values.help || positionals[0] !== "migrate") {
        console.log(dbUsage);
        return values.help ? 0 : 2;
      }
      const { help: _help, ...flags } = values;
      const config = parseOptions(databaseConfigSchema, camelCase(flags), process.env);
      const { withDatabase } = await import("./openDatabase.ts");
      await withDatabase(config, async () => {});
      console.error(
        `medgate: database migrated (${config.databaseUrl ? "PostgreSQL" : `PGlite in ${config.dataDir}`}).`,
      );
      return 0;
    }
    case "logs": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          ...databaseFlags,
          "older-than": { type: "string" },
          "spool-dir": { type: "string" },
          replay: { type: "boolean" },
          json: { type: "boolean" },
        },
        allowPositionals: true,
      });
      const { logsCommand, logsUsage } = await import("./logsCommand.ts");
      if (values.help) {
        console.log(`${logsUsage}\n\n${databaseHelp}`);
        return 0;
      }
      const { help: _help, "older-than": olderThan, replay, json, ...flags } = values;
      const config = parseOptions(logsConfigSchema, camelCase(flags), process.env);
      await logsCommand(positionals[0], { olderThan, replay, json }, config);
      return 0;
    }
    case "keys": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { ...databaseFlags, role: { type: "string" }, name: { type: "string" } },
        allowPositionals: true,
      });
      if (values.help) {
        console.log(keysUsage);
        return 0;
      }
      const { help: _help, role, name, ...flags } = values;
      const config = parseOptions(databaseConfigSchema, camelCase(flags), process.env);
      const { keysCommand } = await import("./keysCommand.ts");
      await keysCommand(positionals[0], { role, name, target: positionals[1] }, config);
      return 0;
    }
    case "models": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          ...databaseFlags,
          name: { type: "string" },
          gguf: { type: "string" },
          "hf-dir": { type: "string" },
          champion: { type: "boolean" },
        },
        allowPositionals: true,
      });
      const { modelsCommand, modelsUsage } = await import("./modelsCommand.ts");
      if (values.help) {
        console.log(`${modelsUsage}\n\n${databaseHelp}`);
        return 0;
      }
      const { help: _help, name, gguf, "hf-dir": hfDir, champion, ...flags } = values;
      const config = parseOptions(databaseConfigSchema, camelCase(flags), process.env);
      await modelsCommand(positionals[0], { name, gguf, hfDir, champion }, config);
      return 0;
    }
    case "demo": {
      const { values } = parseArgs({
        args: rest,
        options: {
          help: { type: "boolean", short: "h" },
          "data-dir": { type: "string", default: ".medgate/demo" },
          fresh: { type: "boolean", default: false },
          host: { type: "string", default: "127.0.0.1" },
          port: { type: "string", default: "8080" },
          prompts: { type: "string", default: "40" },
          model: { type: "string", default: "smollm2-135m-instruct" },
          "model-name": { type: "string" },
          "hf-dir": { type: "string" },
          preset: { type: "string", default: "demo" },
          "models-dir": { type: "string", default: process.env.MEDGATE_MODELS_DIR ?? ".medgate/models" },
          exit: { type: "boolean", default: false },
        },
      });
      const { demoCommand, demoUsage } = await import("./demoCommand.ts");
      if (values.help) {
        console.log(demoUsage);
        return 0;
      }
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535)
        throw new ConfigError("--port must be an integer from 0 to 65535.");
      if (values.preset !== "demo" && values.preset !== "tiny")
        throw new ConfigError("--preset must be demo or tiny.");
      await demoCommand({
        dataDir: values["data-dir"],
        fresh: values.fresh,
        host: values.host,
        port,
        prompts: Number(values.prompts),
        model: values.model,
        modelName: values["model-name"],
        hfDir: values["hf-dir"],
        preset: values.preset,
        modelsDir: values["models-dir"],
        exit: values.exit,
      });
      return 0;
    }
    case "eval": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          ...databaseFlags,
          model: { type: "string" },
          suite: { type: "string" },
          limit: { type: "string" },
          shots: { type: "string" },
          chat: { type: "boolean" },
          continuation: { type: "string" },
          threads: { type: "string" },
          parallel: { type: "string" },
        },
        allowPositionals: true,
      });
      const { evalCommand, evalUsage } = await import("./evalCommand.ts");
      if (values.help) {
        console.log(evalUsage);
        return 0;
      }
      const { help: _help, "database-url": databaseUrl, "data-dir": dataDir, ...args } = values;
      const config = parseOptions(
        databaseConfigSchema,
        camelCase({ "database-url": databaseUrl, "data-dir": dataDir }),
        process.env,
      );
      await evalCommand(positionals[0], args, config);
      return 0;
    }
    case "promote":
    case "rollback": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { ...databaseFlags, force: { type: "boolean" }, reason: { type: "string" } },
        allowPositionals: true,
      });
      const { championCommand, modelsUsage } = await import("./modelsCommand.ts");
      if (values.help) {
        console.log(`${modelsUsage}\n\n${databaseHelp}`);
        return 0;
      }
      const { help: _help, force, reason, ...flags } = values;
      const config = parseOptions(databaseConfigSchema, camelCase(flags), process.env);
      await championCommand(command, { target: positionals[0], force, reason }, config);
      return 0;
    }
    case "round": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: trainerFlags,
        allowPositionals: true,
      });
      if (values.help || positionals[0] !== "run") {
        console.log(roundRunUsage);
        return values.help ? 0 : 2;
      }
      const { help: _help, model, ...flags } = values;
      const config = parseOptions(trainerConfigSchema, camelCase(flags), process.env);
      const { roundRunCommand } = await import("./roundCommand.ts");
      return roundRunCommand(model?.[0], config);
    }
    case "rounds": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { ...databaseFlags, model: { type: "string" } },
        allowPositionals: true,
      });
      const { roundsCommand, roundsUsage } = await import("./roundCommand.ts");
      if (values.help) {
        console.log(`${roundsUsage}\n\n${databaseHelp}`);
        return 0;
      }
      const { help: _help, model, ...flags } = values;
      const config = parseOptions(databaseConfigSchema, camelCase(flags), process.env);
      await roundsCommand(positionals[0], { model, ref: positionals[1] }, config);
      return 0;
    }
    case "trainer": {
      const { values } = parseArgs({ args: rest, options: trainerFlags, strict: true });
      if (values.help) {
        console.log(trainerUsage);
        return 0;
      }
      const { help: _help, model, ...flags } = values;
      const config = parseOptions(trainerConfigSchema, camelCase(flags), process.env);
      const { trainerCommand } = await import("./roundCommand.ts");
      return trainerCommand(model ?? [], config);
    }
    default:
      console.error(`Unknown command "${command}".\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running command keeps the process alive until its own shutdown.
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    const usageError =
      error instanceof ConfigError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    console.error(`medgate: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(usageError ? 2 : 1);
  },
);
