// Starts a real listening gateway on a free loopback port over a real engine, for integration tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createApiKey } from "../../db/apiKeys.ts";
import { createDatabase } from "../../db/createDatabase.ts";
import { ApiKeyAuth } from "../../gateway/ApiKeyAuth.ts";
import { databaseAdminReader } from "../../gateway/adminReader.ts";
import { CompletionLog } from "../../gateway/CompletionLog.ts";
import { databaseLogReader } from "../../gateway/completionRecord.ts";
import { createApp } from "../../gateway/createApp.ts";
import { databaseKeyLookup } from "../../gateway/databaseKeyLookup.ts";
import { databaseFeedbackStore } from "../../gateway/feedbackStore.ts";
import { GatewayServer } from "../../gateway/GatewayServer.ts";
import { ServedModels } from "../../gateway/ServedModels.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

export type TestGateway = {
  url: string;
  client: OpenAI;
  /** An admin key of the gateway's database, and the headers that send it. */
  apiKey: string;
  authHeaders: Record<string, string>;
  database: TestDatabase;
  completionLog: CompletionLog;
  engine: InferenceEngine;
  models: ServedModels;
  server: GatewayServer;
  close(): Promise<void>;
};

export async function startGateway(
  engineOptions: Omit<InferenceEngineOptions, "modelName"> & { modelName?: string },
  appOptions: {
    bodyLimitBytes?: number;
    /** The gateway's own connection, e.g. through a cuttable proxy, to a migrated database. Default: a fresh PGlite */
    databaseUrl?: string;
  } = {},
): Promise<TestGateway> {
  const engine = await InferenceEngine.load({ modelName: "tiny", gpu: false, threads: 1, ...engineOptions });
  const models = new ServedModels();
  models.serve(engine.info.modelName, engine);
  const database: TestDatabase = appOptions.databaseUrl
    ? await connectTo(appOptions.databaseUrl)
    : await createTestDatabase("pglite");
  const { secret: apiKey } = await createApiKey(database.db, { name: "tests", role: "admin" });
  const auth = new ApiKeyAuth({ lookup: databaseKeyLookup(database.db) });
  const spoolDir = await mkdtemp(join(tmpdir(), "medgate-spool-"));
  const completionLog = await CompletionLog.open({ db: database.db, spoolDir });
  const server = await GatewayServer.listen(
    createApp({
      models,
      auth,
      completionLog,
      logReader: databaseLogReader(database.db),
      feedbackStore: databaseFeedbackStore(database.db),
      adminReader: databaseAdminReader(database.db),
      bodyLimitBytes: appOptions.bodyLimitBytes,
    }),
    models,
    {
      host: "127.0.0.1",
      port: 0,
      drainTimeoutMs: 5_000,
    },
  );
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
  return {
    url: server.url,
    client,
    apiKey,
    authHeaders: { authorization: `Bearer ${apiKey}` },
    database,
    completionLog,
    engine,
    models,
    server,
    close: async () => {
      await server.close();
      await completionLog.close();
      await database.dispose();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

/** A connection the caller's database outlives: disposing it only closes the pool. */
async function connectTo(url: string): Promise<TestDatabase> {
  const handle = await createDatabase({ url });
  return { ...handle, url, dispose: () => handle.close() };
}

/** Reads a raw SSE response into its `data:` payloads. */
export async function readSse(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .map((event) => event.trim())
    .filter((event) => event.startsWith("data: "))
    .map((event) => event.slice("data: ".length));
}
