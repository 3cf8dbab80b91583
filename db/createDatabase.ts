// The one database client factory: PostgreSQL through a `pg` pool when a URL is given, else embedded PGlite.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { releaseFolderLock, takeFolderLock } from "./folderLock.ts";
import * as schema from "./schema.ts";

/** A drizzle database over either driver; queries are written once against this type. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export type DatabaseHandle = {
  db: Database;
  kind: "postgres" | "pglite";
  /** Applies every committed migration not applied yet. */
  migrate(): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** PostgreSQL connection string; when absent, PGlite is used. Default: none */
  url?: string;
  /** PGlite's data folder. Default: .medgate/db */
  dataDir?: string;
  /** Most pooled PostgreSQL connections. Default: 10 */
  poolSize?: number;
};

/** The embedded database folder is open in another live process. */
export class DatabaseLockedError extends Error {
  override name = "DatabaseLockedError";
  constructor(dataDir: string, ownerPid: number | null) {
    super(
      `The embedded database in ${dataDir} is in use by ${ownerPid === null ? "another process" : `process ${ownerPid}`} (is \`medgate serve\` running on it?). ` +
        "Stop that process first, or use PostgreSQL (DATABASE_URL) when several processes need the database.",
    );
  }
}

export const migrationsFolder = fileURLToPath(new URL("../migrations/", import.meta.url));

export async function createDatabase(options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  if (options.url) {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on("error", () => {});
    const db = drizzlePg(pool, { schema });
    return {
      db: db as unknown as Database,
      kind: "postgres",
      migrate: () => migratePg(db, { migrationsFolder }),
      close: () => pool.end(),
    };
  }
  const dataDir = options.dataDir ?? ".medgate/db";
  await mkdir(dataDir, { recursive: true });
  // PGlite belongs to one process: a second opener of the same folder would corrupt it.
  const lockPath = join(dataDir, "medgate.lock");
  await takeFolderLock(lockPath, (ownerPid) => new DatabaseLockedError(dataDir, ownerPid));
  let client: PGlite;
  try {
    client = await PGlite.create(dataDir);
  } catch (error) {
    await releaseFolderLock(lockPath);
    throw error;
  }
  const db = drizzlePglite(client, { schema });
  return {
    db: db as unknown as Database,
    kind: "pglite",
    migrate: () => migratePglite(db, { migrationsFolder }),
    close: async () => {
      await client.close();
      await releaseFolderLock(lockPath);
    },
  };
}
