// Turns what a user names as a model (a .gguf path, an hf: URI or a catalog id) into a local GGUF file, downloading through node-llama-cpp when allowed.
import { open, stat } from "node:fs/promises";
import path from "node:path";
import { resolveModelFile } from "node-llama-cpp";
import { type CatalogEntry, findCatalogEntry, modelCatalog } from "./catalog.ts";
import { InferenceError } from "./errors.ts";

export type ModelSourceErrorCode =
  | "file-not-found"
  | "not-gguf"
  | "unknown-model"
  | "invalid-hf-uri"
  | "not-downloaded"
  | "demo-model-missing"
  | "download-failed";

/** A model spec that cannot be turned into a loadable GGUF file; the message says what to do about it. */
export class ModelSourceError extends InferenceError {
  override name = "ModelSourceError";
  constructor(
    readonly code: ModelSourceErrorCode,
    /** The spec as the user gave it. */
    readonly spec: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ModelDownloadProgress = { downloadedSize: number; totalSize: number };

export type ResolveModelSourceOptions = {
  /** Folder GGUF files are looked up in and downloaded to; relative paths are taken from the working directory. Default: `.medgate/models` */
  modelsDir?: string;
  /** `"auto"` downloads a missing hf: or catalog file; `false` or `"offline"` turns a missing file into an error and never touches the network. Default: `"auto"` */
  download?: "auto" | false | "offline";
  /** Called as a download progresses (bytes). Default: none */
  onProgress?: (progress: ModelDownloadProgress) => void;
  /** Draw node-llama-cpp's own progress bar on the console while downloading (for the CLI). Default: `false` */
  showCliProgress?: boolean;
  /** Cancels a download in flight; the partial file is removed. Default: none */
  signal?: AbortSignal;
  /** Hugging Face token for gated or private repos. Default: none given, so node-llama-cpp falls back to the Hugging Face CLI's token (HF_TOKEN or its token file) as `huggingface-cli` would */
  huggingFaceToken?: string;
};

export type ResolvedModelSource = {
  /** Absolute path of the GGUF file (the first part, for a split model). */
  path: string;
  /** Served model name: the catalog id, or the file's base name without `.gguf`. */
  name: string;
  catalogEntry?: CatalogEntry;
};

export const defaultModelsDir = ".medgate/models";

const ggufMagic = "GGUF";

/**
 * Resolves `spec` to a local GGUF file:
 * - a catalog id (`med42-v2-8b`): its default GGUF from the models dir, downloaded there if missing;
 * - an `hf:` URI (`hf:user/repo:Q4_K_M`, `hf:user/repo/file.gguf`): node-llama-cpp's own resolution, which finds a
 *   file it downloaded earlier into the models dir without the network;
 * - a path to a `.gguf` file: used where it is (a relative path is also looked for in the models dir).
 */
export async function resolveModelSource(
  spec: string,
  options: ResolveModelSourceOptions = {},
): Promise<ResolvedModelSource> {
  const trimmed = spec.trim();
  const modelsDir = path.resolve(options.modelsDir ?? defaultModelsDir);

  if (hfUriPrefixes.some((prefix) => trimmed.toLowerCase().startsWith(prefix))) {
    return resolveHfUri(spec, trimmed, modelsDir, options);
  }
  if (/^https?:\/\//i.test(trimmed)) {
    throw new ModelSourceError(
      "invalid-hf-uri",
      spec,
      `"${spec}" is a URL; name a Hugging Face file as an hf: URI instead (hf:<user>/<repo>/<file>.gguf or hf:<user>/<repo>:<quant>), or download the file and give its path.`,
    );
  }

  const entry = findCatalogEntry(trimmed);
  if (entry) return resolveCatalogEntry(spec, entry, modelsDir, options);

  if (looksLikePath(trimmed)) return resolveLocalPath(spec, trimmed, modelsDir);

  // A bare word that is no catalog id may still be an extension-less file in the working directory.
  if (await isFile(path.resolve(trimmed))) return resolveLocalPath(spec, trimmed, modelsDir);
  throw new ModelSourceError(
    "unknown-model",
    spec,
    `Unknown model "${spec}". Known catalog ids: ${modelCatalog.map((known) => known.id).join(", ")}. ` +
      "Or give a path to a .gguf file, or an hf: URI such as hf:<user>/<repo>:Q4_K_M.",
  );
}

// The prefixes node-llama-cpp 3.22.1's parseModelUri treats as Hugging Face URIs (it also takes `hf.co/…`, which
// reads like a relative path, so medgate leaves that one out).
const hfUriPrefixes = ["hf://", "huggingface://", "hf:", "huggingface:"];

function looksLikePath(spec: string): boolean {
  return /\.gguf$/i.test(spec) || spec.includes("/") || spec.includes("\\") || spec.startsWith(".");
}

async function resolveLocalPath(
  spec: string,
  trimmed: string,
  modelsDir: string,
): Promise<ResolvedModelSource> {
  const candidates = [path.resolve(trimmed)];
  if (!path.isAbsolute(trimmed)) candidates.push(path.resolve(modelsDir, trimmed));

  for (const candidate of candidates) {
    const stats = await stat(candidate).catch(() => undefined);
    if (!stats) continue;
    if (!stats.isFile()) {
      throw new ModelSourceError(
        "file-not-found",
        spec,
        `"${candidate}" is a directory, not a GGUF model file.`,
      );
    }
    await assertGguf(spec, candidate);
    return { path: candidate, name: servedNameOf(candidate) };
  }
  throw new ModelSourceError(
    "file-not-found",
    spec,
    `No model file at ${candidates.map((candidate) => `"${candidate}"`).join(" or ")}. Check the path, or use a catalog id (${modelCatalog.map((known) => known.id).join(", ")}) or an hf: URI.`,
  );
}

async function resolveCatalogEntry(
  spec: string,
  entry: CatalogEntry,
  modelsDir: string,
  options: ResolveModelSourceOptions,
): Promise<ResolvedModelSource> {
  const gguf = entry.gguf[0];
  if (!gguf)
    throw new ModelSourceError("unknown-model", spec, `Catalog entry "${entry.id}" lists no GGUF file.`);
  const filePath = path.join(modelsDir, gguf.file);

  if (entry.demo || gguf.repo === null) {
    if (!(await isFile(filePath))) {
      throw new ModelSourceError(
        "demo-model-missing",
        spec,
        `The demo model "${entry.id}" is not installed: "${filePath}" is missing. Run \`npm run setup\` to install it.`,
      );
    }
    await assertGguf(spec, filePath);
    return { path: filePath, name: entry.id, catalogEntry: entry };
  }

  // The file keeps its name from the repo (not node-llama-cpp's hf_<user>_ prefix), so a file copied in by hand
  // under that name is found too.
  const resolved = await resolveThroughNodeLlamaCpp(
    spec,
    `hf:${gguf.repo}/${gguf.file}`,
    modelsDir,
    options,
    gguf.file,
  );
  await assertGguf(spec, resolved);
  return { path: resolved, name: entry.id, catalogEntry: entry };
}

async function resolveHfUri(
  spec: string,
  trimmed: string,
  modelsDir: string,
  options: ResolveModelSourceOptions,
): Promise<ResolvedModelSource> {
  const parsed = parseHfUri(spec, trimmed);
  const resolved = await resolveThroughNodeLlamaCpp(spec, parsed.uri, modelsDir, options, undefined);
  await assertGguf(spec, resolved);
  return { path: resolved, name: parsed.name };
}

type ParsedHfUri = { uri: string; name: string };

/**
 * Checks an hf: URI against the two forms node-llama-cpp 3.22.1 accepts, so a typo fails here with a readable
 * message instead of as a network error, and derives the served name:
 * - `hf:<user>/<repo>[:<quant or tag>]`: name `<repo without -GGUF>[.<QUANT>]`, the base of the file
 *   node-llama-cpp saves (it picks Q4_K_M when no tag is given);
 * - `hf:<user>/<repo>/<path/to/file>.gguf[#<branch>]`: name is the file's base name.
 */
function parseHfUri(spec: string, trimmed: string): ParsedHfUri {
  const prefix = hfUriPrefixes.find((candidate) => trimmed.toLowerCase().startsWith(candidate)) ?? "hf:";
  const body = trimmed.slice(prefix.length);
  const invalid = (why: string) =>
    new ModelSourceError(
      "invalid-hf-uri",
      spec,
      `Malformed Hugging Face URI "${spec}": ${why}. Use hf:<user>/<repo>:<quant> (e.g. hf:mradermacher/Llama3-Med42-8B-GGUF:Q4_K_M) or hf:<user>/<repo>/<file>.gguf.`,
    );

  const [user = "", repoAndTag = "", ...fileParts] = body.split("/");
  if (user === "" || repoAndTag === "") throw invalid("it needs a user and a repo");

  if (fileParts.length === 0 || repoAndTag.includes(":")) {
    if (fileParts.length > 0) throw invalid("a :<quant> tag cannot be followed by a file path");
    const [repo = "", ...tagParts] = repoAndTag.split(":");
    const tag = tagParts.join(":").trim();
    if (repo === "") throw invalid("the repo name is empty");
    if (tagParts.length > 0 && tag === "") throw invalid("the tag after ':' is empty");
    const base = repo.replace(/-gguf$/i, "");
    const quant = tag === "" || tag.toLowerCase() === "latest" ? "" : `.${tag.toUpperCase()}`;
    return { uri: `hf:${user}/${repo}${tag === "" ? "" : `:${tag}`}`, name: `${base}${quant}` };
  }

  const filePath = fileParts.join("/").split("#")[0] ?? "";
  const fileName = filePath.split("/").at(-1) ?? "";
  if (fileName === "") throw invalid("the file path is empty");
  if (!/\.gguf(\.part\d+of\d+)?$/i.test(fileName)) throw invalid(`"${fileName}" is not a .gguf file`);
  return { uri: `hf:${body}`, name: servedNameOf(fileName) };
}

async function resolveThroughNodeLlamaCpp(
  spec: string,
  uri: string,
  modelsDir: string,
  options: ResolveModelSourceOptions,
  fileName: string | undefined,
): Promise<string> {
  const offline = options.download === false || options.download === "offline";
  try {
    // With `download: false` node-llama-cpp only looks in the directory for the file names the URI maps to and
    // never fetches; with "auto" and verify off (its default) an existing file is returned before any request.
    return await resolveModelFile(uri, {
      directory: modelsDir,
      download: offline ? false : "auto",
      fileName,
      cli: options.showCliProgress ?? false,
      onProgress: options.onProgress,
      signal: options.signal,
      tokens: options.huggingFaceToken === undefined ? undefined : { huggingFace: options.huggingFaceToken },
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    if (offline) {
      throw new ModelSourceError(
        "not-downloaded",
        spec,
        `Model "${spec}" is not in the models dir "${modelsDir}" and downloads are off (${reason}). ` +
          "Allow downloads, or put the GGUF file there.",
        { cause: error },
      );
    }
    throw new ModelSourceError(
      "download-failed",
      spec,
      `Could not download "${spec}" (${uri}) into "${modelsDir}": ${reason}. Check the network and the repo name; a gated repo needs a Hugging Face token.`,
      { cause: error },
    );
  }
}

async function assertGguf(spec: string, filePath: string): Promise<void> {
  const handle = await open(filePath, "r");
  try {
    const magic = Buffer.alloc(ggufMagic.length);
    const { bytesRead } = await handle.read(magic, 0, magic.length, 0);
    if (bytesRead === magic.length && magic.toString("latin1") === ggufMagic) return;
  } finally {
    await handle.close();
  }
  throw new ModelSourceError(
    "not-gguf",
    spec,
    `"${filePath}" is not a GGUF file (it does not start with the "GGUF" magic bytes). Convert the model to GGUF or pick a .gguf quantization.`,
  );
}

async function isFile(filePath: string): Promise<boolean> {
  const stats = await stat(filePath).catch(() => undefined);
  return stats?.isFile() ?? false;
}

/** `Llama3-Med42-8B.Q4_K_M.gguf` → `Llama3-Med42-8B.Q4_K_M`; split and binary-split part suffixes are dropped too. */
function servedNameOf(fileName: string): string {
  return path
    .basename(fileName)
    .replace(/\.part\d+of\d+$/i, "")
    .replace(/\.gguf$/i, "")
    .replace(/-\d{5}-of-\d{5}$/, "");
}
