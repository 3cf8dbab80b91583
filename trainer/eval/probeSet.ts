// Probe sets: JSON-lines files of conversations the gate asks candidate and champion to answer, kept out of
// training. One conversation a line, `{"conversation": [{"role": "user", "content": "..."}]}` with an optional
// `id`; a malformed file fails with the file, the line and the field.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { promptHashOf } from "../../db/promptHash.ts";
import type { ChatMessage } from "../../inference/chatTypes.ts";

const probeLineSchema = z.strictObject({
  /** The probe's own id, kept in reports. Default: the file name and line */
  id: z.string().min(1).optional(),
  conversation: z
    .array(
      z.strictObject({
        role: z.enum(["system", "user", "assistant"]),
        content: z.string(),
      }),
    )
    .min(1)
    .refine((messages) => messages.at(-1)?.role === "user", {
      message: "the last message must be the user's (the model answers it)",
    }),
});

/** A prompt the gate asks both models, from a probe set file or the round's held-out pairs. */
export type ProbePrompt = {
  /** The file's id or `file:line`, or the held-out prompt's round prompt id. */
  source: string;
  messages: ChatMessage[];
  /** promptHashOf(messages): the same hash the response log and round prompts use. */
  promptHash: string;
};

export class ProbeSetError extends Error {
  override name = "ProbeSetError";
}

/** Reads and validates a probe set file; errors name the file, the line and the field. */
export async function readProbeSet(path: string): Promise<ProbePrompt[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ProbeSetError(`Probe set ${path} cannot be read: ${(error as Error).message}`);
  }
  return parseProbeSet(text, path);
}

export function parseProbeSet(text: string, path: string): ProbePrompt[] {
  const prompts: ProbePrompt[] = [];
  const lines = new Map<string, number>();
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line.length === 0) continue;
    const where = `${path}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new ProbeSetError(`Probe set ${where}: not JSON (${(error as Error).message})`);
    }
    const parsed = probeLineSchema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .map((issue) => `${issue.path.join(".") || "(line)"}: ${issue.message}`)
        .join("; ");
      throw new ProbeSetError(`Probe set ${where}: ${issues}`);
    }
    const messages = parsed.data.conversation as ChatMessage[];
    const promptHash = promptHashOf(messages);
    const earlier = lines.get(promptHash);
    if (earlier !== undefined) {
      throw new ProbeSetError(`Probe set ${where}: the same conversation as line ${earlier}`);
    }
    lines.set(promptHash, i + 1);
    prompts.push({ source: parsed.data.id ?? where, messages, promptHash });
  }
  if (prompts.length === 0) throw new ProbeSetError(`Probe set ${path} holds no conversation.`);
  return prompts;
}
