// One server span per HTTP request (W3C traceparent continued) and the http.server.request.duration histogram,
// both ended when the response has been written, a streamed one included.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { GatewayEnv } from "../appTypes.ts";
import { gatewayInstruments, tracer } from "./instruments.ts";

// Always W3C trace context, with or without the SDK: a caller's trace id reaches the log row either way.
const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/** Hono's `/v1/models/:id{.+}` as the route template `/v1/models/{id}`. */
function routeTemplate(path: string): string {
  return path.replace(/:(\w+)(\{[^}]*\})?/gu, "{$1}");
}

export const httpTelemetry: MiddlewareHandler<GatewayEnv> = async (c, next) => {
  const started = performance.now();
  const parent = propagator.extract(ROOT_CONTEXT, c.req.raw.headers, headerGetter);
  const url = new URL(c.req.url);
  const method = c.req.method;
  const span = tracer.startSpan(
    method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": method,
        "url.path": url.pathname,
        "url.scheme": url.protocol.replace(":", ""),
        "server.address": url.hostname,
        "server.port": Number(url.port || (url.protocol === "https:" ? 443 : 80)),
        "user_agent.original": c.req.header("user-agent") ?? "",
      },
    },
    parent,
  );
  const spanContext = span.spanContext();
  // The log row keeps the trace's id when there is a trace (recorded here, or only the caller's), else the request id.
  c.set("traceId", isSpanContextValid(spanContext) ? spanContext.traceId : c.get("requestId"));
  c.set("traceContext", trace.setSpan(parent, span));
  await context.with(c.get("traceContext"), next);
  const route = routeTemplate(routePath(c, -1) || url.pathname);
  span.updateName(`${method} ${route}`);
  const finish = () => {
    const status = c.res.status;
    const attributes: Record<string, string | number> = {
      "http.request.method": method,
      "http.route": route,
      "http.response.status_code": status,
    };
    if (status >= 500) attributes["error.type"] = String(status);
    span.setAttributes(attributes);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    gatewayInstruments().httpDuration.record((performance.now() - started) / 1000, attributes);
  };
  const outgoing = (c.env as { outgoing?: ServerResponse<IncomingMessage> } | undefined)?.outgoing;
  // A streamed body is still being written: the request ends when the socket has the whole response.
  if (outgoing && c.res.body && !outgoing.writableFinished) outgoing.once("close", finish);
  else finish();
};
