// `medgate logs prune --older-than 90d`: retention for the response log.
import { pruneCompletions } from "../db/completions.ts";
import { ConfigError, type DatabaseConfig } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const units: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** Parses "90d", "12h" or "30m" into milliseconds. */
export function parseAge(text: string): number {
  const match = /^(\d+)([dhm])$/u.exec(text.trim());
  if (!match)
    throw new ConfigError(`--older-than takes a number and a unit (d, h or m), like 90d; got "${text}".`);
  return Number(match[1]) * units[match[2]!]!;
}

export async function logsCommand(
  action: string | undefined,
  olderThan: string | undefined,
  config: DatabaseConfig,
) {
  if (action !== "prune" || !olderThan) throw new ConfigError("Usage: medgate logs prune --older-than 90d");
  const before = new Date(Date.now() - parseAge(olderThan));
  const deleted = await withDatabase(config, (db) => pruneCompletions(db, before));
  console.error(`medgate: deleted ${deleted} completion(s) created before ${before.toISOString()}.`);
  console.log(deleted);
}
