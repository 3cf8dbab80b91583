// 405 for a documented path asked with a method it does not answer, before any key or page check: the OpenAPI
// document's paths are the route table, so `Allow` and the document cannot disagree.
import type { MiddlewareHandler } from "hono";
import { MethodNotAllowedError } from "./errors.ts";

const operationMethods = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** Each documented path as a pattern (`{param}` is one segment), with the methods it answers. */
function routeTable(paths: Record<string, object> = {}): { pattern: RegExp; allowed: string[] }[] {
  return Object.entries(paths).map(([path, item]) => {
    const allowed = Object.keys(item)
      .filter((key) => operationMethods.has(key))
      .map((method) => method.toUpperCase());
    // Hono answers HEAD with the GET handler, without the body.
    if (allowed.includes("GET") && !allowed.includes("HEAD")) allowed.push("HEAD");
    const segments = path
      .split("/")
      .map((segment) =>
        /^\{[^}]+\}$/u.test(segment) ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&"),
      );
    return { pattern: new RegExp(`^${segments.join("/")}$`, "u"), allowed };
  });
}

export function methodNotAllowed(paths: Record<string, object> | undefined): MiddlewareHandler {
  const table = routeTable(paths);
  return async (c, next) => {
    const { method, path } = c.req;
    const route = table.find((entry) => entry.pattern.test(path));
    if (route && !route.allowed.includes(method))
      throw new MethodNotAllowedError(method, path, route.allowed);
    await next();
  };
}
