// The medgate command line: a table of commands, each loaded only when named (serving never pulls in the
// trainer), run with its flags parsed from its schema, failures turned into exit codes.
import "disposablestack/auto";
import type { Command } from "./commandLine.ts";
import { ConfigError } from "./config.ts";

type Entry = { summary: string; load(): Promise<Command> };

const commands: Record<string, Entry> = {
  demo: {
    summary: "Run the whole loop on the demo model: serve, traffic, feedback, round, gate, promotion",
    load: async () => (await import("./demoCommand.ts")).demoCommand as Command,
  },
  serve: {
    summary: "Serve a GGUF chat model over the OpenAI API",
    load: async () => (await import("./serveCommand.ts")).serveCommand as Command,
  },
  fixtures: {
    summary: "Write the small test models",
    load: async () => (await import("./fixturesCommand.ts")).fixturesCommand as Command,
  },
  db: {
    summary: "Database maintenance (db migrate)",
    load: async () => (await import("./dbCommand.ts")).dbCommand as Command,
  },
  keys: {
    summary: "API keys (keys create | list | revoke)",
    load: async () => (await import("./keysCommand.ts")).keysCommand as Command,
  },
  logs: {
    summary: "The response log: retention and refused rows (logs prune --older-than 90d | logs rejected)",
    load: async () => (await import("./logsCommand.ts")).logsCommand as Command,
  },
  models: {
    summary: "The model registry (models register | list)",
    load: async () => (await import("./modelsCommand.ts")).modelsCommand as Command,
  },
  promote: {
    summary: 'Make a version the champion without the gate (promote ID --force --reason "…")',
    load: async () => (await import("./modelsCommand.ts")).promoteCommand as Command,
  },
  rollback: {
    summary: 'Return a model to its previous champion (rollback NAME --reason "…")',
    load: async () => (await import("./modelsCommand.ts")).rollbackCommand as Command,
  },
  eval: {
    summary: "Score a model version or a GGUF file on the medical benchmarks (eval run --model …)",
    load: async () => (await import("./evalCommand.ts")).evalCommand as Command,
  },
  judge: {
    summary: "Measure a judge's agreement with clinicians (judge eval --judge … --pairs FILE|--round ROUND)",
    load: async () => (await import("./judgeCommand.ts")).judgeCommand as Command,
  },
  round: {
    summary: "Run one alignment round (round run --model NAME)",
    load: async () => (await import("./roundCommand.ts")).roundCommand as Command,
  },
  rounds: {
    summary: "Inspect rounds (rounds list | show ROUND)",
    load: async () => (await import("./roundCommand.ts")).roundsCommand as Command,
  },
  trainer: {
    summary: "Run rounds as a service when enough new prompts arrive",
    load: async () => (await import("./trainerCommand.ts")).trainerCommand as Command,
  },
};

const width = Math.max(...Object.keys(commands).map((name) => name.length)) + 3;
const usage = `medgate — serve medical chat models behind an OpenAI-compatible API

Usage: medgate <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, entry]) => `  ${name.padEnd(width)}${entry.summary}`)
  .join("\n")}
  ${"help".padEnd(width)}Show help for a command (medgate help serve)

Run "medgate <command> --help" for its options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = rest[0] === undefined ? undefined : commands[rest[0]];
    if (!topic) {
      console.log(usage);
      return 0;
    }
    const { helpOf } = await import("./commandLine.ts");
    console.log(helpOf(await topic.load()));
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`Unknown command "${name}".\n\n${usage}`);
    return 2;
  }
  const { runCommand } = await import("./commandLine.ts");
  return runCommand(await entry.load(), rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usageError =
      error instanceof ConfigError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    console.error(`medgate: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(usageError ? 2 : 1);
  },
);
