// GET /openapi.json: the API's OpenAPI 3.1 document (no key needed: it describes the API, it holds no data).
import { Hono } from "hono";
import packageJson from "../../package.json" with { type: "json" };
import type { GatewayEnv } from "../appTypes.ts";
import { openApiDocument } from "../openapi.ts";

let document: ReturnType<typeof openApiDocument> | undefined;

export const openApiRoute = new Hono<GatewayEnv>().get("/openapi.json", (c) => {
  document ??= openApiDocument(packageJson.version);
  return c.json(document);
});
