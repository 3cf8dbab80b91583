// The trainer's traces and metrics: a span for each round driven, one for each step in it and each part of the
// gate; the step durations, and the state each round is in.
import { metrics, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { type RoundRow, type RoundState, roundState } from "../db/schema.ts";

const tracer = trace.getTracer("medgate.trainer");

/** Runs `work` in a child span of the active one (or a new trace), ended with its outcome. */
export function inSpan<T>(
  name: string,
  attributes: Record<string, string | number>,
  work: (span: Span) => Promise<T>,
) {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setAttribute("error.type", error instanceof Error ? error.name : "error");
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      span.end();
    }
  });
}

export function roundAttributes(round: RoundRow): Record<string, string | number> {
  return {
    "medgate.round.id": round.id,
    "medgate.round.model": round.modelName,
    "medgate.round.number": round.number,
  };
}

function instruments() {
  const meter = metrics.getMeter("medgate.trainer");
  return {
    stepDuration: meter.createHistogram("medgate.round.step.duration", {
      unit: "s",
      description: "Seconds each round step took",
      advice: { explicitBucketBoundaries: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200] },
    }),
    state: meter.createGauge("medgate.round.state", {
      description: `The state a round is in, as its index in ${roundState.enumValues.join(", ")}`,
    }),
  };
}

/** A step's duration, and the state the round went to after it. */
export function recordStep(round: RoundRow, step: RoundState, seconds: number, next: RoundState): void {
  const { stepDuration } = instruments();
  stepDuration.record(seconds, { "medgate.round.model": round.modelName, "medgate.round.step": step });
  recordRoundState(round, next);
}

export function recordRoundState(round: RoundRow, current: RoundState): void {
  instruments().state.record(roundState.enumValues.indexOf(current), {
    "medgate.round.model": round.modelName,
    "medgate.round.number": round.number,
  });
}
