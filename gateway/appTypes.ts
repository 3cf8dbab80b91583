// The services a gateway app is built from, and the typed context variables routes reach them through.
import type { Context } from "@opentelemetry/api";

import type { AuditTrail } from "./audit/AuditTrail.ts";
import type { ApiKeyAuth, Caller } from "./auth/ApiKeyAuth.ts";
import type { RoleLimits } from "./auth/keyRateLimit.ts";
import type { PageSso } from "./auth/PageSso.ts";
import type { RateLimiter } from "./auth/RateLimiter.ts";
import type { FeedbackStore } from "./feedback/feedbackStore.ts";
import type { CompletionLogReader, CompletionRecorder } from "./log/completionRecord.ts";
import type { RecentCompletionIds } from "./log/RecentCompletionIds.ts";
import type { ServedModels } from "./models/ServedModels.ts";
import type { VersionEngines } from "./models/VersionEngines.ts";
import type { AdminReader } from "./pages/adminReader.ts";

export type GatewayDeps = {
  models: ServedModels;
  /** Authenticates every /v1 request by its bearer key. */
  auth: ApiKeyAuth;
  /** Accounts each key's requests and generated tokens per minute. Default: an InMemoryRateLimiter */
  rateLimiter?: RateLimiter;
  /** The limits of keys that set none of their own, per role. Default: no limits */
  roleLimits?: RoleLimits;
  /** Receives one row per chat completion response; `CompletionLog` in production. */
  completionLog: CompletionRecorder;
  /** Reads the response log back (admin routes). */
  logReader: CompletionLogReader;
  /** Where every read of stored text is recorded before it is answered (the database's hash-chained trail). */
  audit: AuditTrail;
  /** Clinician feedback storage. */
  feedbackStore: FeedbackStore;
  /** The registry, rounds and audit log for the /admin dashboard. Default: an empty one */
  adminReader?: AdminReader;
  /** Registered versions loaded on demand for scoring (`NAME@vN`). Default: none (only served names score) */
  versions?: VersionEngines;
  /** Sign-in to the pages through the identity provider, with server-side sessions. Default: API keys only */
  sso?: PageSso;
  /** Largest accepted request body in bytes. Default: 4 MiB */
  bodyLimitBytes?: number;
  /** What telemetry shows: message contents on spans (opt-in), the Prometheus text of /metrics, trace links. */
  telemetry?: GatewayTelemetry;
};

export type GatewayTelemetry = {
  /** Put conversations and answers on chat spans. Default: false */
  captureMessageContent: boolean;
  /** Every metric as Prometheus text for GET /metrics; undefined when metrics are off. */
  metricsText?: () => Promise<string>;
  /** A trace's link in the admin dashboard, `{traceId}` replaced. Default: none */
  traceViewer?: string;
};

export type GatewayEnv = {
  Variables: {
    deps: Required<Omit<GatewayDeps, "versions" | "sso">> &
      Pick<GatewayDeps, "versions" | "sso"> & { recentCompletionIds: RecentCompletionIds };
    requestId: string;
    /** The request's trace id when it belongs to a trace (W3C), else its request id; stored in the log row. */
    traceId: string;
    /** The OpenTelemetry context of the request's server span, for the spans of its work. */
    traceContext: Context;
    /** The authenticated key behind a /v1 request. */
    caller: Caller;
    /** Milliseconds of this request spent inside the inference engine, subtracted from the overhead. */
    engineMs: number;
  };
};
