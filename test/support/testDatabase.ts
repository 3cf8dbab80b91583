// A fresh, migrated database per test file: a new database on the machine's PostgreSQL, or a PGlite folder.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createDatabase, type DatabaseHandle } from "../../db/createDatabase.ts";

/** Server the PostgreSQL suite runs against; its `postgres` database is used to create test databases. */
export const postgresAdminUrl = "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * Disposing it closes the connection and deletes the database; `disconnect` only closes the connection (to free
 * the database for another process) and may come first. Each acts once.
 */
export type TestDatabase = DatabaseHandle & { url?: string; dataDir?: string; disconnect(): Promise<void> };

function disconnectOnce(handle: DatabaseHandle): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= Promise.resolve(handle[Symbol.asyncDispose]());
    return closing;
  };
}

export async function createTestDatabase(kind: "postgres" | "pglite"): Promise<TestDatabase> {
  if (kind === "pglite") {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-pglite-"));
    const handle = await createDatabase({ dataDir });
    await handle.migrate();
    const disconnect = disconnectOnce(handle);
    return {
      ...handle,
      dataDir,
      disconnect,
      [Symbol.asyncDispose]: async () => {
        await disconnect();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `medgate_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = postgresAdminUrl.replace(/\/postgres$/u, `/${name}`);
  const handle = await createDatabase({ url });
  await handle.migrate();
  const disconnect = disconnectOnce(handle);
  return {
    ...handle,
    url,
    disconnect,
    [Symbol.asyncDispose]: async () => {
      await disconnect();
      const cleanup = new pg.Client({ connectionString: postgresAdminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
