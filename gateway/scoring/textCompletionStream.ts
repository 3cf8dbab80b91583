// A text completion streamed as OpenAI streams the legacy API: server-sent `text_completion` chunks as the text
// is generated, each choice's last chunk with its finish reason, then (with `stream_options.include_usage`) one
// chunk of usage, then `data: [DONE]`. With `logprobs`, a choice is sent whole once it is scored.
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import type { TextCompletionResult } from "../../inference/textCompletion.ts";
import { errorBody, toApiError } from "../errors.ts";
import type { CompletionRequest, TextCompletionChunk } from "../protocol.ts";
import {
  createTextCompletion,
  finishReasonOf,
  generateChoices,
  newTextCompletionId,
  planTextCompletion,
  usageOf,
} from "./textCompletions.ts";

/**
 * Checks the request (a refusal throws here, before the first byte) and returns the event stream. `onClose` runs
 * once when the stream ends, whatever its end.
 */
export function streamTextCompletion(
  engine: InferenceEngine,
  model: string,
  fingerprint: string,
  request: CompletionRequest,
  signal: AbortSignal,
  onClose: () => void,
): ReadableStream<Uint8Array> {
  const plan = planTextCompletion(engine, request);
  const includeUsage = request.stream_options?.include_usage === true;
  const abort = new AbortController();
  const stopped = AbortSignal.any([signal, abort.signal]);
  const head = { id: newTextCompletionId(), created: Math.floor(Date.now() / 1000), model };
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (data: unknown) => {
        if (stopped.aborted) return;
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
      };
      const chunk = (choices: TextCompletionChunk["choices"], usage?: TextCompletionChunk["usage"]) =>
        send({
          ...head,
          object: "text_completion",
          choices,
          system_fingerprint: fingerprint,
          ...(includeUsage ? { usage: usage ?? null } : {}),
        } satisfies TextCompletionChunk);
      const run = async () => {
        if (plan.top !== null) {
          // Log-probabilities are read over the whole text in one pass: each choice goes out whole, scored.
          const whole = await createTextCompletion(engine, model, fingerprint, request, stopped);
          for (const choice of whole.choices) chunk([choice]);
          if (includeUsage) chunk([], whole.usage);
          return;
        }
        const generations: TextCompletionResult[] = [];
        for (const [i, prompt] of plan.prompts.entries()) {
          const indexOf = (choice: number) => i * plan.n + choice;
          if (plan.echo) {
            for (let choice = 0; choice < plan.n; choice++) {
              chunk([{ text: prompt.text, index: indexOf(choice), logprobs: null, finish_reason: null }]);
            }
          }
          const results = await generateChoices(engine, plan, prompt, stopped, (choice, text) => {
            if (text !== "") chunk([{ text, index: indexOf(choice), logprobs: null, finish_reason: null }]);
          });
          results.forEach((result, choice) => {
            chunk([
              { text: "", index: indexOf(choice), logprobs: null, finish_reason: finishReasonOf(result) },
            ]);
          });
          generations.push(...results);
        }
        if (includeUsage) chunk([], usageOf(plan.prompts, generations));
      };
      const finish = async () => {
        try {
          await run();
        } catch (error) {
          // Headers are gone: a failure after the first byte becomes one error event.
          send(errorBody(toApiError(error)));
        } finally {
          onClose();
        }
        if (stopped.aborted) return;
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      };
      void finish();
    },
    cancel(reason) {
      abort.abort(reason);
    },
  });
}
