// GET /metrics (admin keys): every metric in Prometheus text format, for a scraper that sends an admin key as
// its bearer token. The numbers describe traffic, not patients, but they are the server's inside: not public.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { NotFoundError } from "../errors.ts";

export const metricsRoute = new Hono<GatewayEnv>().get("/metrics", async (c) => {
  const { auth, telemetry } = c.get("deps");
  auth.assertRole(await auth.authenticate(c.req.header("authorization")), "admin");
  if (!telemetry.metricsText)
    throw new NotFoundError("Metrics are off in this gateway (OTEL_SDK_DISABLED).", null, "metrics_off");
  return c.body(await telemetry.metricsText(), 200, {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
  });
});
