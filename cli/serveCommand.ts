// `medgate serve`: listen at once (GET /ready says 503), load the model, print the URL when it can answer.

import { hostname } from "node:os";
import { createApiKey, listApiKeys } from "../db/apiKeys.ts";
import { registerChampion } from "../db/championChanges.ts";
import { createDatabase, type DatabaseHandle } from "../db/createDatabase.ts";
import { findChampion, listModelVersions } from "../db/modelVersions.ts";
import type { ModelVersionRow } from "../db/schema.ts";
import { ApiKeyAuth } from "../gateway/ApiKeyAuth.ts";
import { databaseAdminReader } from "../gateway/adminReader.ts";
import { ChampionWatcher } from "../gateway/ChampionWatcher.ts";
import { CompletionLog } from "../gateway/CompletionLog.ts";
import { databaseLogReader } from "../gateway/completionRecord.ts";
import { createApp } from "../gateway/createApp.ts";
import { databaseKeyLookup } from "../gateway/databaseKeyLookup.ts";
import { databaseFeedbackStore } from "../gateway/feedbackStore.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { ServedModels } from "../gateway/ServedModels.ts";
import { sha256OfFile, verifyModelFile } from "../inference/fileDigest.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { resolveModelSource } from "../inference/modelSource.ts";
import type { ServeConfig } from "./config.ts";

export async function serveCommand(config: ServeConfig): Promise<void> {
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    await ensureQuickstartKey(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  const { server, models, completionLog } = await listenGateway(database, config);
  let watcher: ChampionWatcher | undefined;
  const shutdown = async (signal: string) => {
    console.error(`medgate: ${signal} received, draining ${server.inFlight} in-flight request(s)…`);
    await watcher?.close();
    await server.close();
    await closeLog(completionLog);
    await database.close();
    console.error("medgate: stopped.");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));

  console.error(`medgate: listening on ${server.url}, loading ${config.model}…`);
  try {
    const source = await resolveModelSource(config.model, {
      modelsDir: config.modelsDir,
      download: config.offline ? "offline" : "auto",
      showCliProgress: process.stderr.isTTY,
      huggingFaceToken: config.hfToken,
    });
    const modelName = config.modelName ?? source.name;
    const champion = await championToServe(database, modelName, source.path);
    const load = (modelPath: string) =>
      InferenceEngine.load({
        modelPath,
        modelName,
        parallel: config.parallel,
        threads: config.threads,
        contextSize: config.context,
        maxQueue: config.queue,
        gpu: config.gpu === "cpu" ? false : config.gpu,
        chatTemplateFallback: source.catalogEntry?.chatTemplate,
        defaultSystemPrompt: config.systemPrompt ?? source.catalogEntry?.defaultSystemPrompt,
      });
    const engine = await load(champion?.ggufPath ?? source.path);
    models.serve(modelName, engine, champion?.id ?? null);
    watcher = await ChampionWatcher.start({
      database,
      models,
      names: [modelName],
      loadEngine: (version) => load(version.ggufPath),
    });
    const { info } = engine;
    console.error(
      `medgate: model "${info.modelName}" ready (${info.parallel} sequences × ${info.contextSize} tokens, ${info.threads} thread(s), template ${info.chatTemplate})`,
    );
    console.error(
      `medgate: API ${server.url}/v1 · clinician review page ${server.url}/review · admin dashboard ${server.url}/admin`,
    );
    console.log(`${server.url}/v1`);
  } catch (error) {
    await watcher?.close();
    await server.close();
    await closeLog(completionLog);
    await database.close();
    throw error;
  }
}

/** The gateway over a migrated database: its app, listening server, served models and response log. */
export async function listenGateway(
  database: DatabaseHandle,
  options: { host: string; port: number; spoolDir: string; bodyLimit?: number; drainTimeout?: number },
): Promise<{ server: GatewayServer; models: ServedModels; completionLog: CompletionLog }> {
  const completionLog = await CompletionLog.open({ db: database.db, spoolDir: options.spoolDir });
  if (completionLog.stats.rejected > 0) {
    console.error(
      `medgate: ${completionLog.stats.rejected} response-log row(s) the database refused are set aside in ${options.spoolDir}/rejected; \`medgate logs rejected\` lists them.`,
    );
  }
  const models = new ServedModels();
  const app = createApp({
    models,
    auth: new ApiKeyAuth({ lookup: databaseKeyLookup(database.db) }),
    completionLog,
    logReader: databaseLogReader(database.db),
    feedbackStore: databaseFeedbackStore(database.db),
    adminReader: databaseAdminReader(database.db),
    bodyLimitBytes: options.bodyLimit,
  });
  try {
    const server = await GatewayServer.listen(app, models, {
      host: options.host,
      port: options.port,
      drainTimeoutMs: options.drainTimeout,
    });
    return { server, models, completionLog };
  } catch (error) {
    await closeLog(completionLog);
    throw error;
  }
}

/** Flushes the response log to the database or its spool, giving up after 30 s if both disk and database hang. */
export async function closeLog(log: CompletionLog): Promise<void> {
  const deadline = new Promise<"timeout">((resolve) => setTimeout(resolve, 30_000, "timeout").unref());
  if ((await Promise.race([log.close(), deadline])) === "timeout") {
    console.error(
      `medgate: the response log could not be flushed in 30 s; ${log.stats.queued} record(s) were not saved.`,
    );
  }
}

/**
 * On an embedded database with no key at all, creates one admin key and prints it once, so that the
 * quickstart works without ever serving open. A PostgreSQL deployment gets a hint instead.
 */
async function ensureQuickstartKey(database: DatabaseHandle): Promise<void> {
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

/**
 * The registry decides what a name serves: its champion (whose file must match its sha256). A name the
 * registry has never seen is registered with the file given to serve as its first champion, audited.
 */
async function championToServe(
  database: DatabaseHandle,
  modelName: string,
  givenPath: string,
): Promise<ModelVersionRow | undefined> {
  const champion = await findChampion(database.db, modelName);
  if (champion) {
    await verifyModelFile(champion.ggufPath, champion.ggufSha256);
    console.error(
      `medgate: serving the champion of "${modelName}": v${champion.version} (${champion.ggufPath}).`,
    );
    return champion;
  }
  if ((await listModelVersions(database.db, modelName)).length > 0) {
    console.error(
      `medgate: "${modelName}" has versions but no champion; serving ${givenPath} unregistered until one is promoted.`,
    );
    return undefined;
  }
  return registerChampion(
    database.db,
    {
      name: modelName,
      ggufPath: givenPath,
      ggufSha256: await sha256OfFile(givenPath),
      config: { registeredBy: "serve" },
    },
    { actor: `serve@${hostname()}`, reason: "first model served under this name" },
  );
}
