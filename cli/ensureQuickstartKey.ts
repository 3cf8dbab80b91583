// The quickstart's one admin key: `medgate serve` on a new embedded database never serves open.
import { createApiKey, listApiKeys } from "../db/apiKeys.ts";
import type { DatabaseHandle } from "../db/createDatabase.ts";

/**
 * On an embedded database with no key at all, creates one admin key and prints it once, so that the
 * quickstart works without ever serving open. A PostgreSQL deployment gets a hint instead.
 */
export async function ensureQuickstartKey(database: DatabaseHandle): Promise<void> {
  if ((await listApiKeys(database.db)).length > 0) return;
  if (database.kind !== "pglite") {
    console.error(
      'medgate: no API keys yet: create one with `npx medgate keys create --role admin --name "…"`.',
    );
    return;
  }
  const { secret } = await createApiKey(database.db, { name: "local quickstart", role: "admin" });
  console.error(`medgate: created a local admin API key (shown only now): ${secret}`);
}
