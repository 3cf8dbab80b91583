// A scratch database on a PostgreSQL server for one benchmark run: created and migrated at the start, dropped (with
// any connection still open to it) when the run disposes of it.
import pg from "pg";
import { createDatabase, type DatabaseHandle } from "../../db/createDatabase.ts";

/**
 * Creates `PREFIX_PID` on the server of `serverUrl` (a URL to any database there, e.g. `postgres`), migrates it and
 * returns its handle; disposing of the result closes the handle and drops the database.
 */
export async function scratchDatabase(
  serverUrl: string,
  prefix: string,
): Promise<AsyncDisposable & { database: DatabaseHandle }> {
  const name = `${prefix}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const drop = async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
  try {
    const database = await createDatabase({ url: serverUrl.replace(/\/[^/]*$/u, `/${name}`) });
    await database.migrate().catch(async (error: unknown) => {
      await database[Symbol.asyncDispose]();
      throw error;
    });
    return {
      database,
      async [Symbol.asyncDispose]() {
        try {
          await database[Symbol.asyncDispose]();
        } finally {
          await drop();
        }
      },
    };
  } catch (error) {
    await drop();
    throw error;
  }
}
