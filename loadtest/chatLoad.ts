// Closed-loop load over HTTP: N workers send chat requests back to back and count generated tokens.
import type { ChatCompletion, ChatCompletionChunk } from "../gateway/protocol.ts";

export type LoadResult = {
  requests: number;
  completionTokens: number;
  wallMs: number;
  /** Aggregate generated tokens per second over the whole run. */
  tokensPerSecond: number;
  latenciesMs: number[];
  /** Streamed answers: milliseconds from sending to the first text of each. */
  timeToFirstTokenMs: number[];
  failures: number;
  /** The first few distinct failure messages. */
  errors?: string[];
};

export type ChatLoadOptions = {
  /** Base URL of the API, e.g. http://127.0.0.1:8080/v1 */
  baseUrl: string;
  concurrency: number;
  requests: number;
  /** The request body for request i (model, messages, sampling...). */
  body(index: number): Record<string, unknown>;
  /** Read answers as server-sent events. Default: false */
  stream?: boolean;
  /** Bearer key sent with every request. Default: none */
  apiKey?: string;
};

/** Runs a closed loop of `requests` chat completions with `concurrency` workers against baseUrl. */
export async function runChatLoad(options: ChatLoadOptions): Promise<LoadResult> {
  let next = 0;
  let completionTokens = 0;
  let failures = 0;
  const errors = new Set<string>();
  const latenciesMs: number[] = [];
  const timeToFirstTokenMs: number[] = [];
  const started = performance.now();
  const worker = async () => {
    for (let index = next++; index < options.requests; index = next++) {
      const sent = performance.now();
      try {
        // Await first: `total += await x` would read the total before the await and lose updates.
        const { tokens, firstTextAt } = await sendOne(options, index);
        completionTokens += tokens;
        latenciesMs.push(performance.now() - sent);
        if (firstTextAt !== null) timeToFirstTokenMs.push(firstTextAt - sent);
      } catch (error) {
        failures++;
        if (errors.size < 5) errors.add(error instanceof Error ? error.message.slice(0, 300) : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const wallMs = performance.now() - started;
  return {
    requests: options.requests,
    completionTokens,
    wallMs,
    tokensPerSecond: (completionTokens / wallMs) * 1000,
    latenciesMs,
    timeToFirstTokenMs,
    failures,
    errors: [...errors],
  };
}

async function sendOne(
  options: ChatLoadOptions,
  index: number,
): Promise<{ tokens: number; firstTextAt: number | null }> {
  const stream = options.stream ?? false;
  const body = {
    ...options.body(index),
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
  const response = await fetch(`${options.baseUrl}/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  if (!stream) {
    return { tokens: ((await response.json()) as ChatCompletion).usage.completion_tokens, firstTextAt: null };
  }
  // Read as it comes, to time the first text.
  let firstTextAt: number | null = null;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    const piece = decoder.decode(chunk, { stream: true });
    if (firstTextAt === null && /"content":"[^"]/u.test(piece)) firstTextAt = performance.now();
    text += piece;
  }
  const events = text.split("\n\n").filter((event) => event.startsWith("data: {"));
  const last = JSON.parse(events.at(-1)!.slice("data: ".length)) as ChatCompletionChunk;
  if (last.usage == null) throw new Error("the stream ended without usage");
  return { tokens: last.usage.completion_tokens, firstTextAt };
}
