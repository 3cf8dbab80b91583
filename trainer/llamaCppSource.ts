// The llama.cpp source node-llama-cpp was built from (its converter, gguf-py, llama-server), extracted from the bundle it ships.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { defaultVenvDir } from "./pythonEngine.ts";

const execFileAsync = promisify(execFile);

/** Stamp file inside the extracted tree; scripts/setup-python.sh writes the same one. */
const STAMP = ".medgate-source";

export interface LlamaCppSourceOptions {
  /** The engine's venv; the source lives in `<venvDir>/llama.cpp`. Default: trainer/engine/.venv of this checkout */
  venvDir?: string;
}

/** node-llama-cpp's package folder, wherever npm put it. */
function nodeLlamaCppDir(): string {
  // The package exports only its entry point, dist/index.js. createRequire rather than import.meta.resolve,
  // which vitest's module runner (global setup) does not support.
  return dirname(dirname(createRequire(import.meta.url).resolve("node-llama-cpp")));
}

async function readStamp(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, STAMP), "utf8")).trim();
  } catch {
    return undefined;
  }
}

/**
 * Returns the extracted llama.cpp source folder, cloning it from node-llama-cpp's `gitRelease.bundle` when it is
 * missing or was extracted for another node-llama-cpp version. Safe to call from several processes at once: each
 * extracts beside the target and renames into place.
 */
export async function llamaCppSourceDir(options: LlamaCppSourceOptions = {}): Promise<string> {
  const target = join(options.venvDir ?? defaultVenvDir, "llama.cpp");
  const packageDir = nodeLlamaCppDir();
  const { version } = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as {
    version: string;
  };
  const wanted = `node-llama-cpp@${version}`;
  if ((await readStamp(target)) === wanted) return target;

  const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await mkdir(dirname(target), { recursive: true });
  try {
    const bundle = join(packageDir, "llama", "gitRelease.bundle");
    await execFileAsync("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", bundle, temporary], {
      maxBuffer: 16 * 1024 * 1024,
    });
    await writeFile(join(temporary, STAMP), `${wanted}\n`);
    if ((await readStamp(target)) === wanted) return target; // another process finished first
    await rm(target, { recursive: true, force: true });
    try {
      await rename(temporary, target);
    } catch (error) {
      // Lost a race to another extraction between rm and rename; its tree is as good as ours.
      if ((await readStamp(target)) !== wanted) throw error;
    }
    return target;
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}
