// The committed pictures in docs/images/: a screenshot is written only when what its page shows changed, so a test
// run that only moved numbers, ids or times leaves the file (and git) alone. The PNG carries the fingerprint of the
// page it was taken of in a tEXt chunk, which viewers ignore.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";

const keyword = "medgate-page-fingerprint";
const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A page's text with what changes from run to run masked (ids, digests, times and every other number), hashed:
 * equal for two renderings of the same page that differ only in figures.
 */
export function pageFingerprint(text: string): string {
  const masked = text
    .replace(/chatcmpl-[A-Za-z0-9_-]+/gu, "chatcmpl-#")
    .replace(/[0-9a-f]{8}(?:-?[0-9a-f]{4}){3}-?[0-9a-f]{12}/giu, "#")
    .replace(/\b[0-9a-f]{16,}\b/giu, "#")
    .replace(/\d+/gu, "0")
    .replace(/\s+/gu, " ")
    .trim();
  return createHash("sha256").update(masked).digest("hex");
}

type Chunk = { type: string; data: Buffer };

function chunksOf(png: Buffer): Chunk[] {
  if (!png.subarray(0, 8).equals(signature)) throw new Error("not a PNG");
  const chunks: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    chunks.push({
      type: png.toString("latin1", at + 4, at + 8),
      data: png.subarray(at + 8, at + 8 + length),
    });
    at += 12 + length;
  }
  return chunks;
}

function encodeChunk({ type, data }: Chunk): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** The fingerprint stored in a PNG by `writeDocImage`, if any. */
export function fingerprintOf(png: Buffer): string | undefined {
  const text = chunksOf(png).find(
    (chunk) => chunk.type === "tEXt" && chunk.data.toString("latin1").startsWith(`${keyword}\0`),
  );
  return text?.data.toString("latin1").slice(keyword.length + 1);
}

/** `png` with `fingerprint` in a tEXt chunk right after its header. */
export function withFingerprint(png: Buffer, fingerprint: string): Buffer {
  const chunks = chunksOf(png).filter(
    (chunk) => !(chunk.type === "tEXt" && chunk.data.toString("latin1").startsWith(`${keyword}\0`)),
  );
  const text = { type: "tEXt", data: Buffer.from(`${keyword}\0${fingerprint}`, "latin1") };
  return Buffer.concat([signature, ...[chunks[0]!, text, ...chunks.slice(1)].map(encodeChunk)]);
}

/**
 * Writes the screenshot `png` of a page whose visible text is `pageText` to `path`, unless the picture there has
 * the same size and was taken of a page with the same fingerprint. Returns whether it wrote.
 */
export async function writeDocImage(path: string, png: Buffer, pageText: string): Promise<boolean> {
  const header = chunksOf(png)[0]!.data;
  const size = `${header.readUInt32BE(0)}x${header.readUInt32BE(4)}`;
  const fingerprint = `${size} ${pageFingerprint(pageText)}`;
  if (existsSync(path) && fingerprintOf(await readFile(path)) === fingerprint) return false;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, withFingerprint(png, fingerprint));
  return true;
}
