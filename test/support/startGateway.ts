// Starts a real listening gateway on a free loopback port over a real engine, for integration tests.
import OpenAI from "openai";
import { createApiKey } from "../../db/apiKeys.ts";
import { ApiKeyAuth } from "../../gateway/ApiKeyAuth.ts";
import { createApp } from "../../gateway/createApp.ts";
import { databaseKeyLookup } from "../../gateway/databaseKeyLookup.ts";
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
  engine: InferenceEngine;
  models: ServedModels;
  server: GatewayServer;
  close(): Promise<void>;
};

export async function startGateway(
  engineOptions: Omit<InferenceEngineOptions, "modelName"> & { modelName?: string },
  appOptions: { bodyLimitBytes?: number } = {},
): Promise<TestGateway> {
  const engine = await InferenceEngine.load({ modelName: "tiny", gpu: false, threads: 1, ...engineOptions });
  const models = new ServedModels();
  models.serve(engine.info.modelName, engine);
  const database = await createTestDatabase("pglite");
  const { secret: apiKey } = await createApiKey(database.db, { name: "tests", role: "admin" });
  const auth = new ApiKeyAuth({ lookup: databaseKeyLookup(database.db) });
  const server = await GatewayServer.listen(createApp({ models, auth, ...appOptions }), models, {
    host: "127.0.0.1",
    port: 0,
    drainTimeoutMs: 5_000,
  });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
  return {
    url: server.url,
    client,
    apiKey,
    authHeaders: { authorization: `Bearer ${apiKey}` },
    database,
    engine,
    models,
    server,
    close: async () => {
      await server.close();
      await database.dispose();
    },
  };
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
