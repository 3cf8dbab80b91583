// `medgate serve`: listen at once (GET /ready says 503), load the model, print the URL when it can answer.

import "disposablestack/auto";
import { hostname } from "node:os";
import { createApiKey, listApiKeys } from "../db/apiKeys.ts";
import { registerChampion } from "../db/championChanges.ts";
import { createDatabase, type DatabaseHandle } from "../db/createDatabase.ts";
import { findChampion, listModelVersions } from "../db/modelVersions.ts";
import type { ModelVersionRow } from "../db/schema.ts";
import type { RoleLimits } from "../gateway/auth/keyRateLimit.ts";
import { SpoolLockedError } from "../gateway/log/CompletionSpool.ts";
import { ChampionWatcher } from "../gateway/models/ChampionWatcher.ts";
import { LlamaServerBackend } from "../gateway/models/LlamaServerBackend.ts";
import { openGateway } from "../gateway/openGateway.ts";
import { readUpstreamsFile } from "../gateway/upstream/upstreamConfig.ts";
import { serveUpstreamModels } from "../gateway/upstream/upstreamModels.ts";
import { sha256OfFile, verifyModelFile } from "../inference/fileDigest.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { findLlamaServerBinary, llamaServerSettings } from "../inference/LlamaServerProcess.ts";
import { resolveModelSource } from "../inference/modelSource.ts";
import { defineCommand } from "./commandLine.ts";
import {
  ConfigError,
  processEnvironment,
  type ServeConfig,
  serveConfigSchema,
  spoolDirOf,
} from "./config.ts";
import { pageSsoOptions } from "./pageSsoOptions.ts";
import { startTelemetry } from "./telemetry.ts";

export const serveCommand = defineCommand({
  usage: `Usage: medgate serve [--model M] [options]

Serves one GGUF chat model at http://HOST:PORT/v1 (chat completions, models) with /health and /ready,
and with --upstreams FILE the names that upstream OpenAI-compatible engines answer (docs/fleet.md).
The API, threads and engines: docs/serving.md.
Prints the API URL on stdout once the model can answer. Every /v1 request needs an API key
(Authorization: Bearer …). On a new embedded database, serve creates one admin key and prints it once;
make others with "medgate keys create".`,
  options: serveConfigSchema,
  run: serve,
});

async function serve(config: ServeConfig): Promise<void> {
  if (config.upstreamsOnly && !config.upstreams)
    throw new ConfigError("--upstreams-only needs --upstreams FILE.");
  // Read before anything starts, so that a bad file fails at once with its field named.
  const upstreams = config.upstreams
    ? await readUpstreamsFile(config.upstreams, processEnvironment()).catch((error: Error) => {
        throw new ConfigError(error.message);
      })
    : undefined;
  // Found before anything starts, so that a missing llama-server fails at once, saying how to get one.
  const llamaServer =
    config.engine === "llama-server" && !config.upstreamsOnly
      ? (() => {
          try {
            return findLlamaServerBinary(config.llamaServer, processEnvironment());
          } catch (error) {
            throw new ConfigError((error as Error).message);
          }
        })()
      : undefined;
  // Checked before anything starts; the provider itself is asked at the first sign-in.
  const sso = await pageSsoOptions(config);
  const stopped = untilStopSignal();
  {
    // Everything serve holds, disposed in reverse order when this block ends (a stop signal or an error):
    // the watcher, the gateway (draining in-flight requests, unloading the engines, flushing the log), the database,
    // the telemetry (flushing what it holds).
    await using resources = new AsyncDisposableStack();
    const telemetry = resources.use(startTelemetry(config));
    const database = resources.use(
      await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir }),
    );
    await database.migrate();
    await ensureQuickstartKey(database);
    const spoolDir = spoolDirOf(config);
    const gateway = resources.use(
      await openGateway(database, {
        host: config.host,
        port: config.port,
        spoolDir,
        bodyLimit: config.bodyLimit,
        drainTimeout: config.drainTimeout,
        roleLimits: roleLimitsOf(config),
        sso,
        telemetry: {
          captureMessageContent: config.traceMessageContent,
          metricsText: telemetry.metricsText,
          traceViewer: config.traceViewer,
        },
      }).catch((error: unknown) => {
        if (!(error instanceof SpoolLockedError)) throw error;
        throw new Error(
          `${error.message} Another gateway uses the spool folder ${spoolDir}: give each its own with --spool-dir (MEDGATE_SPOOL_DIR).`,
          { cause: error },
        );
      }),
    );
    const { server, models } = gateway;
    if (sso) {
      console.error(
        `medgate: the pages sign in through ${sso.oidc.issuer.href} (client ${sso.oidc.clientId})${sso.keySignIn ? " or with an API key" : " only"}`,
      );
    }
    console.error(
      `medgate: listening on ${server.url}, ${config.upstreamsOnly ? "" : `loading ${config.model}… `}(${telemetry.tracing ? `traces to ${config.otlpEndpoint}` : "no tracing"}; metrics at /metrics)`,
    );
    const ready = (async () => {
      if (upstreams) {
        const fleet = resources.use(
          await serveUpstreamModels(database.db, models, upstreams.file, upstreams.apiKeys),
        );
        resources.use(
          await ChampionWatcher.start({
            database,
            models,
            names: fleet.names,
            loadEngine: () => Promise.reject(new Error("a name served by upstreams loads no engine")),
            upstreamRoute: fleet.route,
          }),
        );
        for (const [name, pool] of fleet.pools) {
          const healthy = pool.stats.filter((upstream) => upstream.healthy).length;
          console.error(
            `medgate: "${name}" served by ${pool.members.length} upstream(s), ${healthy} healthy: ${pool.members.map((member) => `${member.name} ${member.config.url}`).join(", ")}`,
          );
        }
        if (config.upstreamsOnly) {
          console.error(`medgate: API ${server.url}/v1 · admin dashboard ${server.url}/admin`);
          console.log(`${server.url}/v1`);
          return;
        }
      }
      const source = await resolveModelSource(config.model, {
        modelsDir: config.modelsDir,
        download: config.offline ? "offline" : "auto",
        showCliProgress: process.stderr.isTTY,
        huggingFaceToken: config.hfToken,
      });
      const modelName = config.modelName ?? source.name;
      if (upstreams?.file.models[modelName]) {
        throw new ConfigError(
          `"${modelName}" is named in ${config.upstreams} and served by this process: give one of them another name.`,
        );
      }
      const champion = await championToServe(database, modelName, source.path);
      const gpu = config.gpu === "cpu" ? false : config.gpu;
      const defaultSystemPrompt = config.systemPrompt ?? source.catalogEntry?.defaultSystemPrompt;
      const loadEngine = (modelPath: string, settings?: { threads: number; contextSize: number }) =>
        InferenceEngine.load({
          modelPath,
          modelName,
          parallel: config.parallel,
          threads: settings?.threads ?? config.threads,
          // The gateway's own JavaScript (HTTP, sampling, the log) needs a core of its own.
          reservedCores: 1,
          contextSize: settings?.contextSize ?? config.context,
          maxQueue: config.queue,
          gpu,
          chatTemplateFallback: source.catalogEntry?.chatTemplate,
          defaultSystemPrompt,
        });
      const startLlamaServer = async (binary: string, modelPath: string) => {
        const settings = await llamaServerSettings(modelPath, {
          threads: config.threads,
          contextSize: config.context,
          gpu,
          // The gateway only forwards here, so llama-server gets every core: with one left free it generated
          // about half as fast on 2 cores (docs/benchmarks.md, "Measurements").
          reservedCores: 0,
          chatTemplateFallback: source.catalogEntry?.chatTemplate,
        });
        return LlamaServerBackend.start({
          binary,
          modelPath,
          alias: modelName,
          parallel: config.parallel,
          ...settings,
          gpuLayers: gpu === false ? 0 : undefined,
          maxQueue: config.queue,
          defaultSystemPrompt,
          loadScoringEngine: () => loadEngine(modelPath, settings),
        });
      };
      const load = (modelPath: string) =>
        llamaServer ? startLlamaServer(llamaServer, modelPath) : loadEngine(modelPath);
      const backend = await load(champion?.ggufPath ?? source.path);
      models.serve(modelName, backend, champion ?? null);
      resources.use(
        await ChampionWatcher.start({
          database,
          models,
          names: [modelName],
          loadEngine: (version) => load(version.ggufPath),
        }),
      );
      if (backend instanceof LlamaServerBackend) {
        const { options, pid } = backend.process;
        const template =
          options.extraArgs?.[0] === "--chat-template"
            ? `the catalog's ${options.extraArgs[1]} chat template`
            : "the GGUF's chat template";
        console.error(
          `medgate: model "${modelName}" ready on llama-server (pid ${pid}, ${options.parallel} slots × ${options.contextSize} tokens, ${options.threads} thread(s), ${template}; scoring loads in this process on first use)`,
        );
      } else {
        const { info } = backend;
        console.error(
          `medgate: model "${info.modelName}" ready (${info.parallel} sequences × ${info.contextSize} tokens, ${info.threads} thread(s), template ${info.chatTemplate})`,
        );
      }
      console.error(
        `medgate: API ${server.url}/v1 · clinician review page ${server.url}/review · admin dashboard ${server.url}/admin`,
      );
      console.log(`${server.url}/v1`);
    })();
    // A stop signal while the model still loads stops at once; the load is then left unfinished.
    const early = await Promise.race([ready.then(() => undefined), stopped]);
    if (early) ready.catch(() => {});
    const signal = early ?? (await stopped);
    console.error(`medgate: ${signal} received, draining ${server.inFlight} in-flight request(s)…`);
  }
  console.error("medgate: stopped.");
}

/** Each role's default limits, from --client-rpm and the like; an option not given is no limit. */
function roleLimitsOf(config: ServeConfig): RoleLimits {
  const limits = (rpm: number | undefined, tpm: number | undefined) => ({
    requestsPerMinute: rpm ?? null,
    tokensPerMinute: tpm ?? null,
  });
  return {
    client: limits(config.clientRpm, config.clientTpm),
    clinician: limits(config.clinicianRpm, config.clinicianTpm),
    admin: limits(config.adminRpm, config.adminTpm),
  };
}

/** Resolves with the name of the first SIGTERM or SIGINT. */
function untilStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve(signal);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
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
