// The hash that identifies a conversation's prompt, stored with each completion for deduplication.
import { createHash } from "node:crypto";

/** sha256 of the conversation with roles lower-cased and whitespace at the ends of each message trimmed. */
export function promptHashOf(messages: readonly { role: string; content: string }[]): string {
  const normalized = messages.map((message) => [message.role.toLowerCase(), message.content.trim()]);
  return createHash("sha256").update(JSON.stringify(normalized)).digest("hex");
}
