// `medgate logs prune --older-than 90d` (retention) and `medgate logs rejected [--replay]` (rows the
// database refused, set aside by the response log: list them, and offer them again after a fix).

import { z } from "zod";
import { pruneCompletions } from "../db/completions.ts";
import { RejectedCompletions } from "../gateway/log/RejectedCompletions.ts";
import { appendCommandAudit } from "./commandAudit.ts";
import { defineCommand } from "./commandLine.ts";
import {
  ConfigError,
  type DatabaseConfig,
  databaseOptions,
  durationMs,
  option,
  portNumber,
  spoolDir,
  spoolDirOf,
} from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

export const logsCommand = defineCommand({
  usage: `Usage:
  medgate logs prune --older-than 90d        delete response-log rows older than the age (d, h or m)
  medgate logs rejected [--json]             list the rows the database refused, with the reason
  medgate logs rejected --replay             offer them to the database again (after a fix)

Rows the database refuses (a value out of range, a constraint) are never dropped: the response log sets
them aside in <spool dir>/rejected with the reason, and a gateway offers them again each time it starts.
--json prints each refused record whole (it holds the conversation: patient data), one per line.`,
  options: z.object({
    olderThan: option(z.string().optional(), {
      help: "With prune: the age, like 90d",
      value: "AGE",
      env: false,
    }),
    replay: option(z.boolean().default(false), {
      help: "With rejected: offer the rows to the database again",
      env: false,
    }),
    json: option(z.boolean().default(false), { help: "With rejected: print the whole records", env: false }),
    ...databaseOptions,
    spoolDir,
    port: option(portNumber(), {
      help: "The gateway's port, which its derived spool folder names",
      value: "N",
    }),
  }),
  positionals: true,
  run: (options, [action]) => logs(action, options),
});

/** Parses "90d", "12h" or "30m" into milliseconds. */
export function parseAge(text: string): number {
  if (!/^\d+[dhm]$/u.test(text.trim()))
    throw new ConfigError(`--older-than takes a number and a unit (d, h or m), like 90d; got "${text}".`);
  return durationMs(text.trim());
}

async function logs(
  action: string | undefined,
  options: DatabaseConfig & {
    olderThan?: string;
    replay: boolean;
    json: boolean;
    spoolDir?: string;
    port: number;
  },
) {
  const config = options;
  if (action === "prune" && options.olderThan) {
    const before = new Date(Date.now() - parseAge(options.olderThan));
    // The retention run is recorded in the audit trail, whose own rows it never deletes.
    const deleted = await withDatabase(config, async (db) => {
      const count = await pruneCompletions(db, before);
      await appendCommandAudit(db, "medgate logs prune", {
        query: { olderThan: options.olderThan, before: before.toISOString(), deleted: count },
      });
      return count;
    });
    console.error(`medgate: deleted ${deleted} completion(s) created before ${before.toISOString()}.`);
    console.log(deleted);
    return;
  }
  if (action !== "rejected")
    throw new ConfigError('Usage: medgate logs prune | rejected (see "medgate logs --help").');
  const rejected = new RejectedCompletions(spoolDirOf(config));
  if (options.replay) {
    const result = await withDatabase(config, async (db) => {
      const offered = (await rejected.list()).map((record) => record.id);
      const replayed = await rejected.replay(db);
      await appendCommandAudit(db, "medgate logs rejected --replay", {
        completionIds: offered,
        query: replayed,
      });
      return replayed;
    });
    console.error(
      `medgate: ${result.stored} row(s) stored, ${result.alreadyStored} already in the log, ${result.stillRefused} still refused${result.stillRefused > 0 ? " (medgate logs rejected shows why)" : ""}.`,
    );
    console.log(JSON.stringify(result));
    return;
  }
  const records = await rejected.list();
  // The refused rows hold conversations (with --json) and name completions: the read is recorded before printing.
  await withDatabase(config, (db) =>
    appendCommandAudit(db, "medgate logs rejected", {
      completionIds: records.map((record) => record.id),
      query: { json: options.json, spoolDir: rejected.dir },
    }),
  );
  if (options.json) {
    for (const record of records) console.log(JSON.stringify(record));
    return;
  }
  if (records.length === 0) {
    console.error(`medgate: no refused rows in ${rejected.dir}.`);
    return;
  }
  const time = (value: unknown) => new Date(String(value)).toISOString().slice(0, 19).replace("T", " ");
  const table = [
    ["id", "created (UTC)", "model", "refused (UTC)", "SQLSTATE", "reason"],
    ...records.map((record) => [
      record.id,
      time(record.row.createdAt),
      record.row.modelName,
      time(record.rejectedAt),
      record.code ?? "-",
      record.reason,
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  console.error(`medgate: ${records.length} row(s) refused by the database, set aside in ${rejected.dir}:`);
  for (const row of table)
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    );
  console.error("Fix the cause, then replay them: medgate logs rejected --replay");
}
