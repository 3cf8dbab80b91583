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

/** An open database; disposing it closes the pool (or PGlite) and releases the embedded folder. */
export type DatabaseHandle = AsyncDisposable & {
  db: Database;
  kind: "postgres" | "pglite";
  /** Applies every committed migration not applied yet. */
  migrate(): Promise<void>;
  /**
   * Takes the session-level advisory lock named `key` on a connection of its own, or resolves null when
   * another session holds it. The lock ends when it is disposed or when that connection dies (a killed
   * process's locks are freed by PostgreSQL), which `lost` reports.
   */
  tryAdvisoryLock(key: string): Promise<AdvisoryLock | null>;
  /**
   * LISTENs on `channel` (PostgreSQL: on a connection of its own) and calls `onMessage` with each payload.
   * `lost` aborts when that connection dies; listen again to resume.
   */
  listen(channel: string, onMessage: (payload: string) => void): Promise<Listener>;
};

export type Listener = AsyncDisposable & { lost: AbortSignal };

export type AdvisoryLock = AsyncDisposable & {
  /** Aborted when the lock's connection is lost: the holder must stop writing as the lock's owner. */
  lost: AbortSignal;
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
      tryAdvisoryLock: (key) => postgresAdvisoryLock(options.url!, key),
      listen: (channel, onMessage) => postgresListen(options.url!, channel, onMessage),
      [Symbol.asyncDispose]: () => pool.end(),
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
    // One process owns a PGlite folder (the folder lock above), so the lock only has to hold within it.
    tryAdvisoryLock: async (key) => {
      if (heldInProcess.has(key)) return null;
      heldInProcess.add(key);
      return {
        lost: new AbortController().signal,
        [Symbol.asyncDispose]: async () => {
          heldInProcess.delete(key);
        },
      };
    },
    listen: async (channel, onMessage) => {
      const unlisten = await client.listen(channel, onMessage);
      return { lost: new AbortController().signal, [Symbol.asyncDispose]: () => unlisten() };
    },
    [Symbol.asyncDispose]: async () => {
      await client.close();
      await releaseFolderLock(lockPath);
    },
  };
}

const heldInProcess = new Set<string>();

/** A lock on a dedicated connection outside the pool, so pooled queries never hold or release it by accident. */
async function postgresAdvisoryLock(url: string, key: string): Promise<AdvisoryLock | null> {
  const client = new pg.Client({ connectionString: url });
  const lost = new AbortController();
  client.on("error", (error) => lost.abort(error));
  client.on("end", () => lost.abort(new Error(`The connection holding the lock "${key}" closed.`)));
  await client.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      "select pg_try_advisory_lock(hashtextextended($1, 0)) as locked",
      [key],
    );
    if (!rows[0]?.locked) {
      await client.end();
      return null;
    }
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    lost: lost.signal,
    [Symbol.asyncDispose]: async () => {
      if (lost.signal.aborted) return;
      await client.query("select pg_advisory_unlock(hashtextextended($1, 0))", [key]).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

async function postgresListen(
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
): Promise<Listener> {
  const client = new pg.Client({ connectionString: url });
  const lost = new AbortController();
  client.on("error", (error) => lost.abort(error));
  client.on("end", () => lost.abort(new Error(`The connection listening on ${channel} closed.`)));
  client.on("notification", (message) => {
    if (message.channel === channel) onMessage(message.payload ?? "");
  });
  await client.connect();
  try {
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    lost: lost.signal,
    [Symbol.asyncDispose]: async () => {
      if (!lost.signal.aborted) await client.end().catch(() => {});
    },
  };
}
