// GET /openapi.json: the API's OpenAPI 3.1 document (no key needed: it describes the API, it holds no data).
import { Hono } from "hono";
import packageJson from "../../package.json" with { type: "json" };
import type { GatewayEnv } from "../appTypes.ts";
import { openApiDocument } from "../openapi.ts";

let document: ReturnType<typeof openApiDocument> | undefined;

/** The document of this gateway, built once per process. */
export function gatewayDocument(): ReturnType<typeof openApiDocument> {
  document ??= openApiDocument(packageJson.version);
  return document;
}

export const openApiRoute = new Hono<GatewayEnv>().get("/openapi.json", (c) => c.json(gatewayDocument()));
