// The gateway's OpenTelemetry instruments, named as the HTTP and GenAI semantic conventions name them, made
// from the process's global meter (a no-op until the SDK is started; see cli/telemetry.ts).
import { type Meter, metrics, trace } from "@opentelemetry/api";

export const tracer = trace.getTracer("medgate.gateway");

/** Attribute names of the GenAI conventions (kept here: the conventions package marks them experimental). */
export const genAi = {
  operation: "gen_ai.operation.name",
  provider: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  maxTokens: "gen_ai.request.max_tokens",
  temperature: "gen_ai.request.temperature",
  topP: "gen_ai.request.top_p",
  topK: "gen_ai.request.top_k",
  seed: "gen_ai.request.seed",
  choiceCount: "gen_ai.request.choice.count",
  stopSequences: "gen_ai.request.stop_sequences",
  stream: "gen_ai.request.stream",
  responseId: "gen_ai.response.id",
  finishReasons: "gen_ai.response.finish_reasons",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  tokenType: "gen_ai.token.type",
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
} as const;

/** medgate's value of `gen_ai.provider.name`: the model runs in medgate's own engine. */
export const providerName = "medgate";

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const tokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536];

function instrumentsOf(meter: Meter) {
  return {
    httpDuration: meter.createHistogram("http.server.request.duration", {
      unit: "s",
      description: "Duration of HTTP server requests",
      advice: { explicitBucketBoundaries: secondsBuckets },
    }),
    tokenUsage: meter.createHistogram("gen_ai.client.token.usage", {
      unit: "{token}",
      description: "Input and output tokens per chat completion",
      advice: { explicitBucketBoundaries: tokenBuckets },
    }),
    requestDuration: meter.createHistogram("gen_ai.server.request.duration", {
      unit: "s",
      description: "Time from the request's arrival to the end of its answer",
      advice: { explicitBucketBoundaries: secondsBuckets },
    }),
    timeToFirstToken: meter.createHistogram("gen_ai.server.time_to_first_token", {
      unit: "s",
      description: "Time from the request's arrival to its first generated token",
      advice: { explicitBucketBoundaries: secondsBuckets },
    }),
    timePerOutputToken: meter.createHistogram("gen_ai.server.time_per_output_token", {
      unit: "s",
      description: "Time per output token after the first",
      advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
    }),
    overloaded: meter.createCounter("medgate.requests.overloaded", {
      description: "Requests refused with 429 because every sequence was busy and the queue full",
    }),
    rateLimited: meter.createCounter("medgate.requests.rate_limited", {
      description:
        "Requests refused with 429 because their key was over its requests or generated tokens per minute",
    }),
    cancelled: meter.createCounter("medgate.completions.cancelled", {
      description: "Completions the client cancelled (streams left, requests aborted)",
    }),
    logWriteErrors: meter.createCounter("medgate.completion_log.write_errors", {
      description: "Failed writes of the response log (database unreachable, or a row refused)",
    }),
    meter,
  };
}

export type GatewayInstruments = ReturnType<typeof instrumentsOf>;

const byMeter = new WeakMap<object, GatewayInstruments>();

/** The instruments of the meter provider installed now (the no-op one before the SDK starts). */
export function gatewayInstruments(): GatewayInstruments {
  const provider = metrics.getMeterProvider();
  let instruments = byMeter.get(provider);
  if (!instruments) {
    instruments = instrumentsOf(provider.getMeter("medgate.gateway"));
    byMeter.set(provider, instruments);
  }
  return instruments;
}
