// The medgate command line: a command from the table (cli/commandTable.ts), run with its flags parsed from its
// schema, failures turned into exit codes.
import "disposablestack/auto";
import { commands } from "./commandTable.ts";
import { ConfigError } from "./config.ts";

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
