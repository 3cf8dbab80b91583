// `medgate serve`: listen at once (GET /ready says 503), load the model, print the URL when it can answer.

import "disposablestack/auto";
import { createDatabase } from "../db/createDatabase.ts";
import type { RoleLimits } from "../gateway/auth/keyRateLimit.ts";
import { SpoolLockedError } from "../gateway/log/CompletionSpool.ts";
import {
  type EngineSettings,
  modelLoader,
  NameServing,
  serveUpstreamNames,
} from "../gateway/models/NameServing.ts";
import { openGateway } from "../gateway/openGateway.ts";
import { readUpstreamsFile } from "../gateway/upstream/upstreamConfig.ts";
import { serveUpstreamModels } from "../gateway/upstream/upstreamModels.ts";
import { resolveModelSource } from "../inference/modelSource.ts";
import { chatEngineChoice, startChatEngine } from "./chatEngineChoice.ts";
import { defineCommand } from "./commandLine.ts";
import {
  ConfigError,
  processEnvironment,
  type ServeConfig,
  serveConfigSchema,
  spoolDirOf,
} from "./config.ts";
import { ensureQuickstartKey } from "./ensureQuickstartKey.ts";
import { pageSsoOptions } from "./pageSsoOptions.ts";
import { startTelemetry } from "./telemetry.ts";
import { untilStopSignal } from "./untilStopSignal.ts";

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
  // Decided before anything starts, so that a missing llama-server for --engine llama-server fails at once.
  const engineChoice = config.upstreamsOnly ? undefined : chatEngineChoice(config, processEnvironment());
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
        resources.use(await serveUpstreamNames({ database, models, fleet }));
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
      const settings: EngineSettings = {
        parallel: config.parallel,
        threads: config.threads,
        // The gateway's own JavaScript (HTTP, sampling, the log) needs a core of its own.
        reservedCores: 1,
        contextSize: config.context,
        maxQueue: config.queue,
        gpu: config.gpu === "cpu" ? false : config.gpu,
        chatTemplateFallback: source.catalogEntry?.chatTemplate,
        defaultSystemPrompt: config.systemPrompt ?? source.catalogEntry?.defaultSystemPrompt,
      };
      console.error(`medgate: ${engineChoice!.why}`);
      const chat = startChatEngine(
        engineChoice!,
        (engine) => modelLoader(engine, modelName, settings),
        (build) => resources.use(build),
        processEnvironment(),
        (line) => console.error(`medgate: ${line}`),
      );
      const serving = resources.use(
        await NameServing.start({
          database,
          models,
          name: modelName,
          given: { path: source.path, registeredBy: "serve" },
          ...chat,
        }),
      );
      console.error(`medgate: ${serving.description}`);
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
