// The sha256 of a model file, read as a stream (GGUFs are gigabytes).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk);
  return hash.digest("hex");
}

/** A model file whose bytes are not the ones its registry row names: it is never loaded. */
export class ModelFileMismatchError extends Error {
  override name = "ModelFileMismatchError";
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${path} has sha256 ${actual}, but its registry row says ${expected}; refusing to load it.`);
  }
}

/** Resolves when `path` hashes to `expected`, else throws {@link ModelFileMismatchError}. */
export async function verifyModelFile(path: string, expected: string): Promise<void> {
  const actual = await sha256OfFile(path);
  if (actual !== expected.toLowerCase()) throw new ModelFileMismatchError(path, expected, actual);
}
