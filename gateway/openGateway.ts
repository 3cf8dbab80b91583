// The one factory of a gateway over a database: its services, the response log, the app and the listening
// server, owned together and disposed in reverse order of creation.
import "disposablestack/auto";
import type { Database, DatabaseHandle } from "../db/createDatabase.ts";
import { findModelVersionByRef } from "../db/modelVersions.ts";
import type { GatewayDeps, GatewayTelemetry } from "./appTypes.ts";
import { type AuditTrail, databaseAuditTrail } from "./audit/AuditTrail.ts";
import { ApiKeyAuth } from "./auth/ApiKeyAuth.ts";
import { databaseKeyLookup } from "./auth/databaseKeyLookup.ts";
import type { RoleLimits } from "./auth/keyRateLimit.ts";
import { pageSsoOf, type SsoOptions } from "./auth/PageSso.ts";
import type { RateLimiter } from "./auth/RateLimiter.ts";
import { createApp } from "./createApp.ts";
import { databaseFeedbackStore } from "./feedback/feedbackStore.ts";
import { GatewayServer } from "./GatewayServer.ts";
import { CompletionLog } from "./log/CompletionLog.ts";
import { type CompletionRecorder, databaseLogReader } from "./log/completionRecord.ts";
import { ServedModels } from "./models/ServedModels.ts";
import { VersionEngines, type VersionEnginesOptions } from "./models/VersionEngines.ts";
import { databaseAdminReader } from "./pages/adminReader.ts";
import { observeGateway } from "./telemetry/gauges.ts";

/** Every service of the app read from and written to `db`; `completionLog` is where answers are recorded. */
export function databaseGatewayDeps(
  db: Database,
  services: {
    models: ServedModels;
    completionLog: CompletionRecorder;
    bodyLimitBytes?: number;
    telemetry?: GatewayTelemetry;
    versions?: VersionEngines;
    rateLimiter?: RateLimiter;
    roleLimits?: RoleLimits;
    sso?: SsoOptions;
    /** Default: the database's trail; `unauditedTrail` only for bench:audit's baseline */
    audit?: AuditTrail;
  },
): GatewayDeps {
  return {
    ...services,
    auth: new ApiKeyAuth({ lookup: databaseKeyLookup(db) }),
    logReader: databaseLogReader(db, services.completionLog),
    feedbackStore: databaseFeedbackStore(db),
    audit: services.audit ?? databaseAuditTrail(db),
    adminReader: databaseAdminReader(db),
    sso: services.sso && pageSsoOf(db, services.sso),
  };
}

export type GatewayOptions = {
  /** Interface to listen on. Default: "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. Default: 8080 */
  port?: number;
  /** The response log's spool folder, one process per folder. */
  spoolDir: string;
  /** Largest request body in bytes. Default: 4 MiB */
  bodyLimit?: number;
  /** Longest wait for in-flight requests on shutdown, in ms. Default: 30000 */
  drainTimeout?: number;
  /** Receives the response log's errors. Default: a line on stderr */
  onLogError?: (error: Error) => void;
  /** Message contents on spans, /metrics and trace links. Default: no contents, no /metrics, no links */
  telemetry?: GatewayTelemetry;
  /** The limits of keys that set none of their own, per role. Default: no limits */
  roleLimits?: RoleLimits;
  /** Where keys' requests and tokens are counted. Default: in this process, over a minute */
  rateLimiter?: RateLimiter;
  /** Sign-in to the pages through an identity provider (OpenID Connect). Default: API keys only */
  sso?: SsoOptions;
  /**
   * Registered versions scoring requests may name (`NAME@vN`), loaded on demand with `load`. Default: none
   * (only served names score)
   */
  versions?: Pick<VersionEnginesOptions, "load" | "maxLoaded" | "idleMs">;
};

/** A listening gateway; disposing it drains and closes the server (and its engines), then flushes the log. */
export type Gateway = AsyncDisposable & {
  server: GatewayServer;
  models: ServedModels;
  completionLog: CompletionLog;
};

/** How long disposal waits for the log to reach the database or its spool before saying what was lost. */
const logFlushLimitMs = 30_000;

export async function openGateway(database: DatabaseHandle, options: GatewayOptions): Promise<Gateway> {
  await using stack = new AsyncDisposableStack();
  const completionLog = await CompletionLog.open({
    db: database.db,
    spoolDir: options.spoolDir,
    onError: options.onLogError,
  });
  stack.defer(() => flushThenDispose(completionLog));
  if (completionLog.stats.rejected > 0) {
    console.error(
      `medgate: ${completionLog.stats.rejected} response-log row(s) the database refused are set aside in ${options.spoolDir}/rejected; \`medgate logs rejected\` lists them.`,
    );
  }
  const models = new ServedModels();
  stack.use(observeGateway(models, completionLog));
  const versions = options.versions
    ? stack.use(
        new VersionEngines({ ...options.versions, find: (ref) => findModelVersionByRef(database.db, ref) }),
      )
    : undefined;
  const app = createApp(
    databaseGatewayDeps(database.db, {
      models,
      completionLog,
      bodyLimitBytes: options.bodyLimit,
      telemetry: options.telemetry,
      versions,
      rateLimiter: options.rateLimiter,
      roleLimits: options.roleLimits,
      sso: options.sso,
    }),
  );
  const server = stack.use(
    await GatewayServer.listen(app, models, {
      host: options.host,
      port: options.port,
      drainTimeoutMs: options.drainTimeout,
    }),
  );
  const owned = stack.move();
  return { server, models, completionLog, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** Flushes the response log to the database or its spool, giving up after 30 s if both disk and database hang. */
async function flushThenDispose(log: CompletionLog): Promise<void> {
  const deadline = new Promise<"timeout">((resolve) =>
    setTimeout(resolve, logFlushLimitMs, "timeout").unref(),
  );
  if ((await Promise.race([log[Symbol.asyncDispose](), deadline])) === "timeout") {
    console.error(
      `medgate: the response log could not be flushed in ${logFlushLimitMs / 1000} s; ${log.stats.queued} record(s) were not saved.`,
    );
  }
}
