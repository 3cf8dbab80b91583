// Liveness and readiness probes.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { errorBody, UnavailableError } from "../errors.ts";

export const healthRoutes = new Hono<GatewayEnv>()
  .get("/health", (c) => c.json({ status: "ok" }))
  .get("/ready", (c) => {
    const { models } = c.get("deps");
    if (!models.ready) return c.json(errorBody(new UnavailableError("The model is still loading.")), 503);
    const served = models.list().map((model) => ({ model: model.name, pool: model.backend.stats }));
    return c.json({ status: "ready", models: served });
  });
