// A command as a table entry: its usage text, its zod options schema and `run`. Flags (node:util parseArgs)
// and the options part of its help are generated from the schema, so an option is declared once (cli/config.ts).
import { parseArgs } from "node:util";
import type { z } from "zod";
import { envOf, flagOf, optionMeta, parseOptions } from "./config.ts";

export type Command<Schema extends z.ZodObject = z.ZodObject> = {
  /** The synopsis and what the command does; the generated options follow it in `--help`. */
  usage: string;
  options: Schema;
  /** Whether the command takes positional words (an action, an id). Default: false */
  positionals?: boolean;
  /** Runs with the parsed options; resolves with the exit code (0 when nothing is returned). */
  run(options: z.infer<Schema>, positionals: string[]): Promise<number | undefined> | Promise<void>;
};

export function defineCommand<Schema extends z.ZodObject>(command: Command<Schema>): Command<Schema> {
  return command;
}

type FlagKind = "boolean" | "string" | "list";

/** What kind of flag a field is: a boolean, a list (repeatable), or a string the schema coerces. */
function kindOf(schema: z.ZodType): FlagKind {
  let inner = schema as unknown as {
    def: { type: string; innerType?: unknown; options?: unknown[]; in?: unknown };
  };
  for (;;) {
    const { type } = inner.def;
    if (type === "optional" || type === "default" || type === "nullable" || type === "prefault") {
      inner = inner.def.innerType as typeof inner;
    } else if (type === "pipe") inner = inner.def.in as typeof inner;
    else break;
  }
  if (inner.def.type === "boolean") return "boolean";
  if (inner.def.type === "array") return "list";
  if (
    inner.def.type === "union" &&
    (inner.def.options as (typeof inner)[]).some((o) => o.def.type === "boolean")
  )
    return "boolean";
  return "string";
}

function defaultOf(schema: z.ZodType): unknown {
  const def = (schema as unknown as { def: { type: string; defaultValue?: unknown } }).def;
  return def.type === "default" ? def.defaultValue : undefined;
}

/** The help of every option of `schema`: flag, value, help, variable and default, aligned. */
export function optionsHelp(schema: z.ZodObject): string {
  const rows = Object.entries(schema.shape).map(([key, field]) => {
    const meta = optionMeta.get(field as z.ZodType);
    const kind = kindOf(field as z.ZodType);
    const short = meta?.short ? `-${meta.short}, ` : "";
    const value = kind === "boolean" ? "" : ` ${meta?.value ?? "VALUE"}`;
    const variable = envOf(schema, key);
    const fallback = defaultOf(field as z.ZodType);
    const defaultText =
      meta?.defaultText ?? (fallback === undefined || fallback === false ? undefined : String(fallback));
    const notes = [
      variable ? `[${variable}]` : "",
      defaultText ? `(default: ${defaultText})` : "",
      kind === "list" ? "(repeatable)" : "",
    ].filter(Boolean);
    const left = `${short}${flagOf(key)}${value}`;
    return { left, right: [meta?.help ?? "", ...notes].join(" ") };
  });
  rows.push({ left: "-h, --help", right: "Show this help" });
  const width = Math.min(24, Math.max(...rows.map((row) => row.left.length))) + 4;
  return rows
    .map((row) => {
      const text = wrap(row.right, width, helpWidth);
      // A flag longer than the column gets its help on the next line.
      const left =
        row.left.length > width - 3 ? `${row.left}\n${" ".repeat(width)}` : row.left.padEnd(width - 2);
      return `  ${left}${text}`;
    })
    .join("\n");
}

const helpWidth = 104;

/** `text` broken at spaces into lines of at most `width` columns, each after the first indented by `indent`. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

/** The whole `--help` of a command. */
export function helpOf(command: Command): string {
  const variables = Object.keys(command.options.shape).some((key) => envOf(command.options, key));
  return `${command.usage}\n\nOptions${variables ? " (each also read from the environment variable in brackets; flags win)" : ""}:\n${optionsHelp(command.options)}`;
}

/** Parses `argv` for `command` (flags over the environment) and runs it; `--help` prints its help. */
export async function runCommand(command: Command, argv: string[]): Promise<number> {
  const flags: Record<string, { type: "boolean" | "string"; multiple?: boolean; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  const keyOfFlag = new Map<string, string>();
  for (const [key, field] of Object.entries(command.options.shape)) {
    const name = flagOf(key).slice(2);
    const kind = kindOf(field as z.ZodType);
    const short = optionMeta.get(field as z.ZodType)?.short;
    flags[name] = {
      type: kind === "boolean" ? "boolean" : "string",
      ...(kind === "list" ? { multiple: true } : {}),
      ...(short ? { short } : {}),
    };
    keyOfFlag.set(name, key);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    options: flags,
    allowPositionals: command.positionals ?? false,
    strict: true,
  });
  if (values.help) {
    console.log(helpOf(command));
    return 0;
  }
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    const key = keyOfFlag.get(name);
    if (key) given[key] = value;
  }
  const options = parseOptions(command.options, given);
  return (await command.run(options, positionals)) ?? 0;
}
