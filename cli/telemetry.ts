// The process's OpenTelemetry SDK: traces exported by OTLP/HTTP only when an endpoint is configured (otherwise
// no tracer provider at all, so spans cost nothing), metrics kept for GET /metrics (Prometheus text, through
// the OpenTelemetry Prometheus exporter) and exported by OTLP when an endpoint is configured.
import { metrics } from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-node";
import packageJson from "../package.json" with { type: "json" };
import type { TelemetryConfig } from "./config.ts";

export type Telemetry = AsyncDisposable & {
  /** Whether spans are recorded and exported. */
  tracing: boolean;
  /** Every metric as Prometheus text; undefined when the SDK is disabled. */
  metricsText?: () => Promise<string>;
  /** Exports what is buffered now (tests, and before exit). */
  forceFlush(): Promise<void>;
};

const noTelemetry: Telemetry = {
  tracing: false,
  forceFlush: async () => {},
  [Symbol.asyncDispose]: async () => {},
};

export function samplerOf(config: Pick<TelemetryConfig, "tracesSampler" | "tracesSamplerArg">): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.tracesSamplerArg);
  switch (config.tracesSampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Starts the SDK for this process (once: OpenTelemetry's providers are global). */
export function startTelemetry(config: TelemetryConfig): Telemetry {
  if (config.otelDisabled) return noTelemetry;
  const resource = resourceFromAttributes({
    "service.name": config.serviceName,
    "service.version": packageJson.version,
  });
  const endpoint = config.otlpEndpoint?.replace(/\/+$/u, "");
  let tracerProvider: NodeTracerProvider | undefined;
  if (endpoint) {
    tracerProvider = new NodeTracerProvider({
      resource,
      sampler: samplerOf(config),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }))],
    });
    // Also installs the AsyncLocalStorage context manager and the W3C trace-context propagator.
    tracerProvider.register();
  }
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const serializer = new PrometheusSerializer();
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      prometheus,
      ...(endpoint
        ? [
            new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
            }),
          ]
        : []),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    tracing: tracerProvider !== undefined,
    metricsText: async () => serializer.serialize((await prometheus.collect()).resourceMetrics),
    forceFlush: async () => {
      await tracerProvider?.forceFlush();
      await meterProvider.forceFlush();
    },
    [Symbol.asyncDispose]: async () => {
      await tracerProvider?.shutdown();
      await meterProvider.shutdown();
    },
  };
}
