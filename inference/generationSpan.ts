// The engine's span of one generation, a child of whatever span is active (a gateway's chat span): the wait
// for a sequence, prompt evaluation up to the first token, and generation, as events on one span.
import { type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ChatResult } from "./chatTypes.ts";

const tracer = trace.getTracer("medgate.inference");

export class GenerationSpan {
  readonly #span: Span;
  readonly #started = performance.now();

  constructor(modelName: string, promptTokens: number) {
    this.#span = tracer.startSpan(`generate ${modelName}`, {
      attributes: { "medgate.engine.model": modelName, "gen_ai.usage.input_tokens": promptTokens },
    });
  }

  /** A sequence was lent: the wait in the queue is over, prompt evaluation begins. */
  acquired(): void {
    const waitMs = performance.now() - this.#started;
    this.#span.setAttribute("medgate.engine.queue_wait_ms", waitMs);
    this.#span.addEvent("sequence acquired", { "medgate.engine.queue_wait_ms": waitMs });
  }

  /** The first text came: the prompt is evaluated. */
  firstToken(sinceGenerationMs: number): void {
    this.#span.addEvent("first token", { "medgate.engine.time_to_first_token_ms": sinceGenerationMs });
  }

  end(result: ChatResult): void {
    this.#span.setAttributes({
      "gen_ai.usage.output_tokens": result.completionTokens,
      "gen_ai.response.finish_reasons": [result.finishReason],
      "medgate.engine.generation_ms": result.generationMs,
    });
    if (result.timeToFirstTokenMs !== null)
      this.#span.setAttribute("medgate.engine.time_to_first_token_ms", result.timeToFirstTokenMs);
    this.#span.end();
  }

  fail(error: unknown): void {
    this.#span.setAttribute("error.type", error instanceof Error ? error.name : "error");
    this.#span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
    this.#span.end();
  }
}
