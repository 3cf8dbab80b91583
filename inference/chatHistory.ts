// A conversation in node-llama-cpp's history form, as the engine renders it for generation and scoring.
import type { ChatHistoryItem } from "node-llama-cpp";
import type { ChatMessage } from "./chatTypes.ts";
import { InvalidGenerationRequestError } from "./errors.ts";

/**
 * The history of `messages`, the default system prompt first when the conversation has none. With
 * `generationPrompt` (the default), an assistant turn is left open at the end: an assistant message last is a
 * prefix the answer continues; otherwise the answer starts empty.
 */
export function chatHistoryOf(
  messages: ChatMessage[],
  defaultSystemPrompt: string | undefined,
  generationPrompt = true,
): ChatHistoryItem[] {
  if (messages.length === 0) {
    throw new InvalidGenerationRequestError("The conversation has no messages.", "messages");
  }
  const history: ChatHistoryItem[] = [];
  const hasSystem = messages.some((message) => message.role === "system");
  if (!hasSystem && defaultSystemPrompt) history.push({ type: "system", text: defaultSystemPrompt });
  for (const message of messages) {
    if (message.role === "system") history.push({ type: "system", text: message.content });
    else if (message.role === "user") history.push({ type: "user", text: message.content });
    else history.push({ type: "model", response: [message.content] });
  }
  if (generationPrompt && history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}
