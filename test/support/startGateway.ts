// Starts a real listening gateway on a free loopback port over a real engine, for integration tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { createApiKey } from "../../db/apiKeys.ts";
import { createDatabase } from "../../db/createDatabase.ts";
import type { GatewayTelemetry } from "../../gateway/appTypes.ts";
import type { RoleLimits } from "../../gateway/auth/keyRateLimit.ts";
import type { RateLimiter } from "../../gateway/auth/RateLimiter.ts";
import type { GatewayServer } from "../../gateway/GatewayServer.ts";
import type { CompletionLog } from "../../gateway/log/CompletionLog.ts";
import type { ServedModels } from "../../gateway/models/ServedModels.ts";
import { openGateway } from "../../gateway/openGateway.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

/** Disposing it stops the gateway and deletes its database (when the gateway made it) and spool. */
export type TestGateway = AsyncDisposable & {
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
};

export async function startGateway(
  engineOptions: Omit<InferenceEngineOptions, "modelName"> & { modelName?: string },
  appOptions: {
    bodyLimitBytes?: number;
    /** The gateway's own connection, e.g. through a cuttable proxy, to a migrated database. Default: a fresh PGlite */
    databaseUrl?: string;
    /** Message contents on spans, /metrics. Default: neither */
    telemetry?: GatewayTelemetry;
    /** Registered versions may be scored by `NAME@vN`, loaded with the same engine settings. Default: false */
    versions?: boolean;
    /** Where keys' requests and tokens are counted, e.g. over a shorter window. Default: in-process, a minute */
    rateLimiter?: RateLimiter;
    /** Each role's default limits. Default: none */
    roleLimits?: RoleLimits;
  } = {},
): Promise<TestGateway> {
  const engine = await InferenceEngine.load({ modelName: "tiny", gpu: false, threads: 1, ...engineOptions });
  const database: TestDatabase = appOptions.databaseUrl
    ? await connectTo(appOptions.databaseUrl)
    : await createTestDatabase("pglite");
  const { secret: apiKey } = await createApiKey(database.db, { name: "tests", role: "admin" });
  const spoolDir = await mkdtemp(join(tmpdir(), "medgate-spool-"));
  const gateway = await openGateway(database, {
    host: "127.0.0.1",
    port: 0,
    spoolDir,
    bodyLimit: appOptions.bodyLimitBytes,
    drainTimeout: 5_000,
    telemetry: appOptions.telemetry,
    rateLimiter: appOptions.rateLimiter,
    roleLimits: appOptions.roleLimits,
    versions: appOptions.versions
      ? {
          load: (version) =>
            InferenceEngine.load({
              gpu: false,
              threads: 1,
              ...engineOptions,
              modelPath: version.ggufPath,
              modelName: `${version.name}@v${version.version}`,
            }),
        }
      : undefined,
  });
  gateway.models.serve(engine.info.modelName, engine);
  const { server } = gateway;
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
  return {
    url: server.url,
    client,
    apiKey,
    authHeaders: { authorization: `Bearer ${apiKey}` },
    database,
    completionLog: gateway.completionLog,
    engine,
    models: gateway.models,
    server,
    [Symbol.asyncDispose]: async () => {
      await gateway[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

/** A connection the caller's database outlives: disposing it only closes the pool. */
async function connectTo(url: string): Promise<TestDatabase> {
  const handle = await createDatabase({ url });
  const disconnect = async () => handle[Symbol.asyncDispose]();
  return { ...handle, url, disconnect, [Symbol.asyncDispose]: disconnect };
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
