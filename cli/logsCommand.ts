// `medgate logs prune --older-than 90d`: retention for the response log.
import { pruneCompletions } from "../db/completions.ts";
import { ConfigError, type DatabaseConfig, durationMs } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

/** Parses "90d", "12h" or "30m" into milliseconds. */
export function parseAge(text: string): number {
  if (!/^\d+[dhm]$/u.test(text.trim()))
    throw new ConfigError(`--older-than takes a number and a unit (d, h or m), like 90d; got "${text}".`);
  return durationMs(text.trim());
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
