// Turns one answered (or cancelled, or failed) chat request into its response-log row.

import { type CompletionPage, findCompletion, listCompletions } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import { promptHashOf } from "../../db/promptHash.ts";
import type { CompletionRow, NewCompletionRow } from "../../db/schema.ts";
import type { ChatMessage, ChatResult } from "../../inference/chatTypes.ts";
import type { Caller } from "../auth/ApiKeyAuth.ts";
import type { ChatCompletionRequest } from "../protocol.ts";

/**
 * Where rows go; `CompletionLog` in production. `record` must not throw; its promise resolves once the row is
 * durable (an answer is acknowledged only then) and rejects when it cannot be made so. `pending` finds a
 * recorded row that is not in the database yet.
 */
export type CompletionRecorder = {
  record(row: NewCompletionRow): Promise<void>;
  pending?(id: string): Promise<NewCompletionRow | undefined>;
};

/** Records nothing: for benchmarks that measure serving without the log. */
export const noCompletionLog: CompletionRecorder = { record: () => Promise.resolve() };

/** Reads rows back for the admin log routes. */
export type CompletionLogReader = {
  find(id: string): Promise<CompletionRow | undefined>;
  list(options: {
    limit: number;
    after?: string;
    order: "asc" | "desc";
    model?: string;
  }): Promise<CompletionPage>;
};

/**
 * The log reader over the completions table. With `recorder`, `find` also sees the rows recorded but not in the
 * database yet (in the spool while the database is away), so an answer is readable once the client has it.
 */
export function databaseLogReader(
  db: Database,
  recorder?: Pick<CompletionRecorder, "pending">,
): CompletionLogReader {
  const pending = recorder?.pending?.bind(recorder);
  return {
    // A shadow answer (a canary's candidate in the background) never reached a client and is never returned.
    find: async (id) => {
      const row = await find(id);
      return row?.shadowOf ? undefined : row;
    },
    list: (options) => listCompletions(db, options),
  };
  async function find(id: string): Promise<CompletionRow | undefined> {
    if (!pending) return findCompletion(db, id);
    let stored: CompletionRow | undefined;
    try {
      stored = await findCompletion(db, id);
    } catch (error) {
      // The database is away: a row in the spool is still found; anything else is the outage's error.
      const row = await pending(id);
      if (row) return asStoredRow(row);
      throw error;
    }
    if (stored) return stored;
    const row = await pending(id);
    if (row) return asStoredRow(row);
    // A replay may have moved the row from the spool to the database between the two looks.
    return findCompletion(db, id);
  }
}

/** A row to insert as the row the database would return: its absent optional columns are null. */
function asStoredRow(row: NewCompletionRow): CompletionRow {
  return {
    messages: null,
    choices: null,
    error: null,
    timeToFirstTokenMs: null,
    modelVersionId: null,
    upstream: null,
    apiKeyId: null,
    user: null,
    metadata: null,
    canaryId: null,
    shadowOf: null,
    ...row,
  };
}

/** How a response ended; `answered` means every choice finished (none cancelled). */
export type CompletionOutcome =
  | { kind: "answered"; results: ChatResult[] }
  | { kind: "cancelled"; results: ChatResult[] }
  | { kind: "failed"; error: string; results: ChatResult[]; cause?: unknown };

export function completionRecord(input: {
  id: string;
  createdAt: Date;
  request: ChatCompletionRequest;
  messages: ChatMessage[];
  modelName: string;
  /** The registry version that answered, when the served model is registered. */
  modelVersionId?: string | null;
  /** The upstream(s) that answered, for a model served by upstreams. */
  upstream?: string | null;
  /** The canary running for the name, when one is. */
  canaryId?: string | null;
  /** For a shadow canary's answer: the live completion it answers again. */
  shadowOf?: string | null;
  caller: Caller;
  traceId: string;
  /** Milliseconds from the request's arrival to the end of the answer. */
  latencyMs: number;
  /** Milliseconds from the request's arrival until generation started (queue and prompt checks). */
  startupMs: number;
  outcome: CompletionOutcome;
}): NewCompletionRow {
  const { request, outcome } = input;
  // A key set never to store text is treated as if every request of it said `"store": false`.
  const stored = request.store !== false && input.caller.storeText !== false;
  const { messages: _messages, ...parameters } = request;
  const results = outcome.results;
  const firstToken = results
    .map((result) => result.timeToFirstTokenMs)
    .filter((value): value is number => value !== null);
  const status =
    outcome.kind === "failed"
      ? "error"
      : outcome.kind === "cancelled"
        ? "cancelled"
        : (results[0]?.finishReason ?? "stop");
  return {
    id: input.id,
    createdAt: input.createdAt,
    request: parameters,
    messages: stored ? input.messages : null,
    choices: stored
      ? results.map((result, index) => ({ index, text: result.text, finishReason: result.finishReason }))
      : null,
    stored,
    status,
    error: outcome.kind === "failed" ? outcome.error : null,
    promptHash: promptHashOf(input.messages),
    promptTokens: results[0]?.promptTokens ?? 0,
    completionTokens: results.reduce((sum, result) => sum + result.completionTokens, 0),
    latencyMs: input.latencyMs,
    timeToFirstTokenMs: firstToken.length > 0 ? input.startupMs + Math.min(...firstToken) : null,
    modelName: input.modelName,
    modelVersionId: input.modelVersionId ?? null,
    upstream: input.upstream ?? null,
    apiKeyId: input.caller.keyId,
    traceId: input.traceId,
    user: request.user ?? null,
    metadata: request.metadata ?? null,
    canaryId: input.canaryId ?? null,
    shadowOf: input.shadowOf ?? null,
  };
}
