// A token's own bytes, read from the GGUF's vocabulary: what OpenAI's `bytes` of a log-probability holds, exact
// even for a token that is only part of a character (a detokenized piece would show U+FFFD there).
import type { LlamaModel, Token } from "node-llama-cpp";

const byteToken = /^<0x([0-9A-Fa-f]{2})>$/u;
let byteLevelTable: Map<string, number> | undefined;

/** GPT-2's byte-level alphabet, reversed: each vocabulary character stands for one byte. */
function byteLevelBytes(): Map<string, number> {
  if (byteLevelTable) return byteLevelTable;
  const printable = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const bytes = [...printable(33, 126), ...printable(161, 172), ...printable(174, 255)];
  const codePoints = [...bytes];
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (!bytes.includes(byte)) {
      bytes.push(byte);
      codePoints.push(256 + shifted++);
    }
  }
  byteLevelTable = new Map(bytes.map((byte, i) => [String.fromCodePoint(codePoints[i]!), byte]));
  return byteLevelTable;
}

const cache = new WeakMap<LlamaModel, Map<Token, { text: string; bytes: number[] }>>();
const decoder = new TextDecoder();

/** The bytes of `token` and their text as UTF-8 (a partial character shows as U+FFFD). */
export function tokenBytes(model: LlamaModel, token: Token): { text: string; bytes: number[] } {
  const known = cache.get(model) ?? new Map<Token, { text: string; bytes: number[] }>();
  cache.set(model, known);
  let piece = known.get(token);
  if (!piece) {
    const bytes = vocabularyBytes(model, token) ?? [...Buffer.from(model.detokenize([token], false), "utf8")];
    piece = { text: decoder.decode(Uint8Array.from(bytes)), bytes };
    known.set(token, piece);
  }
  return piece;
}

function vocabularyBytes(model: LlamaModel, token: Token): number[] | undefined {
  const ggml = model.fileInfo.metadata.tokenizer?.ggml;
  const entry = ggml?.tokens?.[token];
  if (typeof entry !== "string") return undefined;
  if (ggml?.model === "gpt2") {
    const table = byteLevelBytes();
    const bytes = [...entry].map((char) => table.get(char));
    return bytes.every((byte) => byte !== undefined) ? (bytes as number[]) : undefined;
  }
  if (ggml?.model === "llama") {
    const byte = byteToken.exec(entry);
    if (byte) return [Number.parseInt(byte[1]!, 16)];
    return [...Buffer.from(entry.replaceAll("\u2581", " "), "utf8")];
  }
  return undefined;
}
