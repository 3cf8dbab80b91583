// Opens the configured database for a CLI command, migrated, and closes it when the command is done.
import { createDatabase, type Database, type DatabaseHandle } from "../db/createDatabase.ts";
import type { DatabaseConfig } from "./config.ts";

export async function withDatabase<T>(
  config: DatabaseConfig,
  run: (db: Database, handle: DatabaseHandle) => Promise<T>,
): Promise<T> {
  const handle = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await handle.migrate();
    return await run(handle.db, handle);
  } finally {
    await handle[Symbol.asyncDispose]();
  }
}
