// A real OTLP/HTTP receiver on 127.0.0.1 for tests: it takes the JSON exports of the OpenTelemetry exporters
// (POST /v1/traces, /v1/metrics) and decodes the spans into plain objects.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTelemetry, type Telemetry } from "../../cli/telemetry.ts";

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};
type KeyValue = { key: string; value: AnyValue };

export type ReceivedSpan = {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  scope: string;
  service: string;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  status: { code?: number; message?: string };
};

function decodeValue(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(decodeValue);
  return undefined;
}

const attributesOf = (list: KeyValue[] = []) =>
  Object.fromEntries(list.map((kv) => [kv.key, decodeValue(kv.value)]));

export type OtlpReceiver = AsyncDisposable & {
  url: string;
  spans: ReceivedSpan[];
  /** Raw bodies of the metric exports. */
  metricExports: unknown[];
  /** Every span whose name is `name`. */
  named(name: string): ReceivedSpan[];
};

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metricExports: unknown[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const type = request.headers["content-type"] ?? "";
      if (!type.startsWith("application/json")) {
        response.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (request.url === "/v1/traces") {
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = String(attributesOf(resourceSpans.resource?.attributes)["service.name"]);
          for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const span of scopeSpans.spans ?? []) {
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? "",
                name: span.name,
                kind: span.kind,
                scope: scopeSpans.scope?.name ?? "",
                service,
                attributes: attributesOf(span.attributes),
                events: (span.events ?? []).map((event: { name: string; attributes?: KeyValue[] }) => ({
                  name: event.name,
                  attributes: attributesOf(event.attributes),
                })),
                status: span.status ?? {},
              });
            }
          }
        }
      } else if (request.url === "/v1/metrics") metricExports.push(body);
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    metricExports,
    named: (name) => spans.filter((span) => span.name === name),
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A receiver and the process's telemetry exporting to it, every trace recorded; disposing stops both. */
export async function startTestTelemetry(): Promise<
  { receiver: OtlpReceiver; telemetry: Telemetry } & AsyncDisposable
> {
  const receiver = await startOtlpReceiver();
  const telemetry = startTelemetry({
    otlpEndpoint: receiver.url,
    serviceName: "medgate-test",
    tracesSampler: "always_on",
    tracesSamplerArg: 1,
    otelDisabled: false,
    traceMessageContent: false,
  });
  return {
    receiver,
    telemetry,
    [Symbol.asyncDispose]: async () => {
      await telemetry[Symbol.asyncDispose]();
      await receiver[Symbol.asyncDispose]();
    },
  };
}
