// A response-log row for tests that write the completions table directly, with every required column set.
import type { NewCompletionRow } from "../../db/schema.ts";

export function completionRow(id: string, fields: Partial<NewCompletionRow> = {}): NewCompletionRow {
  return {
    id,
    createdAt: new Date(),
    request: { temperature: 0 },
    messages: [{ role: "user", content: "What is asthma?" }],
    choices: [{ index: 0, text: "A chronic airway disease.", finishReason: "stop" }],
    stored: true,
    status: "stop",
    promptHash: "hash",
    promptTokens: 5,
    completionTokens: 6,
    latencyMs: 12.5,
    modelName: "tiny",
    traceId: `trace-${id}`,
    ...fields,
  };
}
