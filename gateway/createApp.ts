// Builds the gateway's Hono app from injected services: middleware, routes and the one error mapper.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import type { GatewayDeps, GatewayEnv } from "./appTypes.ts";
import { InMemoryRateLimiter } from "./auth/InMemoryRateLimiter.ts";
import { keyRateLimit, noRoleLimits } from "./auth/keyRateLimit.ts";
import { overheadMs } from "./chat/overhead.ts";
import { ApiError, errorBody, NotFoundError, PayloadTooLargeError, toApiError } from "./errors.ts";
import type { CompletionRecorder } from "./log/completionRecord.ts";
import { RecentCompletionIds } from "./log/RecentCompletionIds.ts";
import { methodNotAllowed } from "./methodNotAllowed.ts";
import { adminPages } from "./pages/adminPages.tsx";
import { emptyAdminReader } from "./pages/adminReader.ts";
import { reviewPages } from "./pages/reviewPages.tsx";
import { ssoPages } from "./pages/ssoPages.tsx";
import { chatCompletionsRoute } from "./routes/chatCompletions.ts";
import { completionLogRoutes } from "./routes/completionLog.ts";
import { completionsRoute } from "./routes/completions.ts";
import { feedbackRoutes } from "./routes/feedback.ts";
import { healthRoutes } from "./routes/health.ts";
import { metricsRoute } from "./routes/metrics.ts";
import { modelRoutes } from "./routes/models.ts";
import { gatewayDocument, openApiRoute } from "./routes/openapi.ts";
import { tokenizerRoutes } from "./routes/tokenizer.ts";
import { httpTelemetry } from "./telemetry/httpTelemetry.ts";

export const defaultBodyLimitBytes = 4 * 1024 * 1024;

export function createApp(deps: GatewayDeps): Hono<GatewayEnv> {
  // Ids handed out are remembered, so that feedback on them is kept while the database is away.
  const recentCompletionIds = new RecentCompletionIds();
  const completionLog: CompletionRecorder = {
    record(row) {
      recentCompletionIds.add(row.id);
      return deps.completionLog.record(row);
    },
  };
  const resolved = {
    ...deps,
    completionLog,
    recentCompletionIds,
    bodyLimitBytes: deps.bodyLimitBytes ?? defaultBodyLimitBytes,
    adminReader: deps.adminReader ?? emptyAdminReader,
    telemetry: deps.telemetry ?? { captureMessageContent: false },
    rateLimiter: deps.rateLimiter ?? new InMemoryRateLimiter(),
    roleLimits: deps.roleLimits ?? noRoleLimits,
  };
  const app = new Hono<GatewayEnv>();

  app.use(requestId({ headerName: "x-request-id" }));
  app.use(httpTelemetry);
  app.use(async (c, next) => {
    const startedAt = performance.now();
    c.set("deps", resolved);
    c.set("engineMs", 0);
    await next();
    // Streams set their own header before the first byte; everything else is measured here at the end.
    if (!c.res.headers.has("x-medgate-overhead-ms")) {
      c.res.headers.set("x-medgate-overhead-ms", overheadMs(startedAt, c.get("engineMs")));
    }
  });
  // A documented path asked with another method is a 405 before any key or cookie is looked at.
  app.use(methodNotAllowed(gatewayDocument().paths));
  // Every /v1 route needs a key; routes for feedback or logs narrow the roles further.
  app.use("/v1/*", resolved.auth.require("client", "clinician", "admin"));
  // Then each key's requests and generated tokens per minute (429 `rate_limit_exceeded`, x-ratelimit-* headers).
  app.use("/v1/*", keyRateLimit(resolved.rateLimiter, resolved.roleLimits));
  // The tokenizer routes sit at the root, where vLLM serves them.
  const limitBody = bodyLimit({
    maxSize: resolved.bodyLimitBytes,
    onError: () => {
      throw new PayloadTooLargeError(resolved.bodyLimitBytes);
    },
  });
  app.use("/v1/*", limitBody);
  for (const path of ["/tokenize", "/detokenize", "/tokenizer_info"]) {
    app.use(
      path,
      resolved.auth.require("admin"),
      keyRateLimit(resolved.rateLimiter, resolved.roleLimits),
      limitBody,
    );
  }

  app.route("/", healthRoutes);
  app.route("/", openApiRoute);
  app.route("/", metricsRoute);
  app.route("/v1", modelRoutes);
  app.route("/v1", chatCompletionsRoute);
  app.route("/v1", completionsRoute);
  app.route("/", tokenizerRoutes);
  app.route("/v1", completionLogRoutes);
  app.route("/v1", feedbackRoutes);
  app.route("/", reviewPages);
  app.route("/", adminPages);
  app.route("/", ssoPages);

  app.notFound((c) => {
    const error = new NotFoundError(`Unknown route: ${c.req.method} ${c.req.path}`, null, "unknown_url");
    return c.json(errorBody(error), 404);
  });
  app.onError((thrown, c) => {
    const error = toApiError(thrown);
    // A body cut off by a client that left (or that the HTTP parser refused) is not a server fault to report.
    if (!(thrown instanceof ApiError) && error.status === 500 && !c.req.raw.signal.aborted) {
      console.error(`[${c.get("requestId")}] unhandled error:`, thrown);
    }
    return c.json(errorBody(error), error.status, error.headers);
  });
  return app;
}
