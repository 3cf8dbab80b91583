// GET /v1/models and /v1/models/{id}: the model names this gateway answers to.
import { Hono } from "hono";
import type { GatewayEnv } from "../appTypes.ts";
import { NotFoundError } from "../errors.ts";
import type { ServedModel } from "../models/ServedModels.ts";
import type { Model, ModelList } from "../protocol.ts";

function toModel(served: ServedModel): Model {
  return {
    id: served.name,
    object: "model",
    created: Math.floor(served.servedSince.getTime() / 1000),
    owned_by: "medgate",
    ...(served.backend.contextLength === null ? {} : { context_length: served.backend.contextLength }),
  };
}

export const modelRoutes = new Hono<GatewayEnv>()
  .get("/models", (c) => {
    const body: ModelList = { object: "list", data: c.get("deps").models.list().map(toModel) };
    return c.json(body);
  })
  .get("/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    const served = c.get("deps").models.get(id);
    if (!served) throw new NotFoundError(`The model \`${id}\` does not exist.`, "model", "model_not_found");
    return c.json(toModel(served));
  });
