// llama-server as a managed child process (`medgate serve --engine llama-server`): started on a GGUF with the
// gateway's threads, slots and context, on a loopback port with a key of its own, restarted when it exits
// unasked, stopped with the backend that owns it. The gateway forwards chat to it; scoring stays in-process.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import type { ChatTemplateFamily } from "./catalog.ts";
import { type GpuChoice, sharedLlama } from "./sharedLlama.ts";
import { defaultThreadCount } from "./threadDefaults.ts";

export type LlamaServerProcessOptions = {
  /** The llama-server executable (see `findLlamaServerBinary`). */
  binary: string;
  modelPath: string;
  /** The model id it answers to. */
  alias: string;
  /** Slots: sequences decoded together. */
  parallel: number;
  /** Tokens per slot (llama-server's -c is this times the slots). */
  contextSize: number;
  /** Threads for generation and for prompt batches. */
  threads: number;
  /** Layers on the GPU: 0 keeps it on the CPU. Default: all (a CPU-only build ignores it) */
  gpuLayers?: number;
  /** More arguments, after medgate's (a later flag wins in llama-server). */
  extraArgs?: readonly string[];
  /** Longest wait for /health to answer 200 after a (re)start. Default: 600000 */
  startTimeoutMs?: number;
  log?: (message: string) => void;
};

export class LlamaServerStartError extends Error {
  override name = "LlamaServerStartError";
}

/**
 * Runs llama-server under a shell that ends it when the gateway is gone: the gateway holds the shell's stdin,
 * and when that closes (the gateway stopped it, exited or was killed) llama-server gets SIGTERM, then SIGKILL
 * after 10 s, so no orphan keeps the model's memory. SIGTERM to the shell is passed on. The shell prints
 * llama-server's pid first and exits with its status.
 */
const supervisor = `exec 3<&0
"$@" <&- &
pid=$!
echo "medgate-llama-server-pid $pid" >&2
trap 'kill -TERM $pid 2>/dev/null' TERM INT
( while read -r _; do :; done; kill -TERM $pid 2>/dev/null; sleep 10; kill -KILL $pid 2>/dev/null ) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait $pid
status=$?
while kill -0 $pid 2>/dev/null; do wait $pid; status=$?; done
kill $watcher 2>/dev/null
exit $status`;

/** Restarts after an unasked exit wait 1 s, doubling to at most 30 s; a run that lasted a minute resets it. */
const firstBackoffMs = 1_000;
const maxBackoffMs = 30_000;
const stableRunMs = 60_000;

export class LlamaServerProcess implements AsyncDisposable {
  readonly options: LlamaServerProcessOptions;
  readonly port: number;
  /** A random key: only this gateway can reach the child, though it listens on loopback. */
  readonly apiKey = randomBytes(24).toString("hex");
  /** Unasked exits since start (each followed by a restart). */
  restarts = 0;
  #child: ChildProcess | undefined;
  /** llama-server's own pid (the child is its supervising shell). */
  #serverPid: number | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = "";
  #stopping = false;
  #backoffMs = firstBackoffMs;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Whether it has answered /health once: a child that never did failed to start, and is not restarted. */
  #startedOnce = false;

  private constructor(options: LlamaServerProcessOptions, port: number) {
    this.options = options;
    this.port = port;
  }

  /** Starts it and waits until it answers /health; fails with its output when it exits or times out first. */
  static async start(options: LlamaServerProcessOptions): Promise<LlamaServerProcess> {
    const server = new LlamaServerProcess(options, await freeLoopbackPort());
    try {
      await server.#spawn();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** Base URL of its OpenAI API. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** The running llama-server's pid (undefined between a crash and its restart). */
  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? this.#serverPid : undefined;
  }

  /** Its last 20 000 characters of output, for failure messages. */
  output(): string {
    return this.#output;
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s) and restarts it no more. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      child.kill("SIGTERM");
      const killer = setTimeout(() => this.#kill(child), 10_000);
      await this.#exited;
      clearTimeout(killer);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** SIGKILL to llama-server and its supervisor both. */
  #kill(child: ChildProcess): void {
    if (this.#serverPid !== undefined) killQuietly(this.#serverPid);
    child.kill("SIGKILL");
  }

  #args(): string[] {
    const { options } = this;
    return [
      ...["-m", options.modelPath, "--alias", options.alias],
      ...["--host", "127.0.0.1", "--port", String(this.port), "--api-key", this.apiKey],
      ...["-np", String(options.parallel), "-c", String(options.contextSize * options.parallel)],
      ...["-t", String(options.threads), "-tb", String(options.threads)],
      ...["-ngl", String(options.gpuLayers ?? 999)],
      "--no-webui",
      ...(options.extraArgs ?? []),
    ];
  }

  async #spawn(): Promise<void> {
    const child = spawn("sh", ["-c", supervisor, "sh", this.options.binary, ...this.#args()], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child = child;
    this.#serverPid = undefined;
    child.stdin!.on("error", () => {});
    const collect = (chunk: Buffer) => {
      let text = chunk.toString();
      if (this.#serverPid === undefined) {
        const announced = /medgate-llama-server-pid (\d+)\n/u.exec(text);
        if (announced) {
          this.#serverPid = Number(announced[1]);
          text = text.replace(announced[0], "");
        }
      }
      this.#output = (this.#output + text).slice(-20_000);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    const startedAt = performance.now();
    let spawnError: Error | undefined;
    this.#exited = new Promise((resolve) => {
      child.once("error", (error) => {
        spawnError = error;
        resolve();
      });
      child.once("exit", (code, signal) => {
        // Closing our end of its stdin tells a supervisor's watcher that is still alive to stop llama-server.
        child.stdin?.destroy();
        resolve();
        if (!this.#stopping && this.#startedOnce)
          this.#exitedUnasked(code, signal, performance.now() - startedAt);
      });
    });
    const deadline = startedAt + (this.options.startTimeoutMs ?? 600_000);
    for (;;) {
      if (spawnError)
        throw new LlamaServerStartError(`cannot run ${this.options.binary}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new LlamaServerStartError(
          `llama-server exited while starting (${child.exitCode ?? child.signalCode}):\n${this.#output.slice(-4000)}`,
        );
      }
      if (this.#stopping) return;
      const ok = await fetch(`http://127.0.0.1:${this.port}/health`, { signal: AbortSignal.timeout(5_000) })
        .then((response) => response.ok)
        .catch(() => false);
      if (ok) {
        this.#startedOnce = true;
        return;
      }
      if (performance.now() > deadline) {
        this.#kill(child);
        throw new LlamaServerStartError(
          `llama-server did not answer /health in ${Math.round((this.options.startTimeoutMs ?? 600_000) / 1000)} s:\n${this.#output.slice(-4000)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  #exitedUnasked(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void {
    this.restarts++;
    if (ranMs >= stableRunMs) this.#backoffMs = firstBackoffMs;
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, maxBackoffMs);
    const last = this.#output.trim().split("\n").slice(-3).join(" | ");
    this.#log(
      `llama-server (${this.options.alias}) exited unasked (${signal ?? `code ${code}`}); restarting in ${wait / 1000} s. Last output: ${last}`,
    );
    this.#restartTimer = setTimeout(() => {
      this.#spawn().then(
        () => {
          if (!this.#stopping)
            this.#log(`llama-server (${this.options.alias}) is back on port ${this.port}.`);
        },
        (error: unknown) =>
          this.#log(`llama-server (${this.options.alias}) failed to restart: ${(error as Error).message}`),
      );
    }, wait);
  }

  #log(message: string): void {
    (this.options.log ?? ((text: string) => console.error(`medgate: ${text}`)))(message);
  }
}

/**
 * The threads, tokens per slot and chat template for llama-server on `modelPath`, defaulted as the in-process
 * engine defaults them: threads by `defaultThreadCount`, context the model's training context (at most 4096),
 * the GGUF's own template, else the catalog's family (see `chatTemplateArgs`).
 */
export async function llamaServerSettings(
  modelPath: string,
  given: {
    threads?: number;
    contextSize?: number;
    gpu: GpuChoice;
    reservedCores: number;
    chatTemplateFallback?: ChatTemplateFamily;
  },
): Promise<{ threads: number; contextSize: number; extraArgs: string[] }> {
  const file = await stat(modelPath);
  const threads =
    given.threads ??
    defaultThreadCount(file.size, (await sharedLlama(given.gpu)).cpuMathCores, given.reservedCores);
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
  const embedded = info.metadata.tokenizer?.chat_template;
  const extraArgs = chatTemplateArgs(
    typeof embedded === "string" ? embedded : undefined,
    given.chatTemplateFallback,
  );
  if (given.contextSize !== undefined) return { threads, contextSize: given.contextSize, extraArgs };
  const trained = (info.architectureMetadata as { context_length?: number }).context_length ?? 4096;
  return { threads, contextSize: Math.min(trained, 4096), extraArgs };
}

/**
 * How llama-server renders conversations, as the in-process engine would (`chatWrapperFor`): the GGUF's own
 * Jinja template (`--jinja`), else the catalog's family where llama-server has it built in. A GGUF with no
 * template whose family llama-server lacks (Hippo's human/assistant format) is refused rather than silently
 * rendered as llama-server's default, ChatML.
 */
export function chatTemplateArgs(
  embedded: string | undefined,
  fallback: ChatTemplateFamily | undefined,
): string[] {
  if (embedded) return ["--jinja"];
  if (fallback === "llama3" || fallback === "chatml") return ["--chat-template", fallback];
  throw new LlamaServerStartError(
    fallback
      ? `This GGUF has no chat template, and llama-server has no built-in "${fallback}" template: serve it with --engine node-llama-cpp, which renders that format.`
      : "This GGUF has no chat template and the catalog names none for it: llama-server would render conversations as ChatML. Serve it with --engine node-llama-cpp, or use a GGUF that carries its template.",
  );
}

/**
 * The llama-server to run: `given` (a path), else `scripts/build-llama-server.sh`'s cached build for the
 * installed node-llama-cpp (its CUDA build first when `gpuPresent`, see `cachedLlamaServerCandidates`), else one
 * on PATH. None: an error naming both ways to get one.
 */
export function findLlamaServerBinary(
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  /** Whether this machine has an NVIDIA GPU. Default: `nvidiaGpuPresent()` */
  gpuPresent: boolean = nvidiaGpuPresent(),
): string {
  if (given) {
    if (!isExecutable(given)) throw new LlamaServerStartError(`${given} is not an executable llama-server.`);
    return given;
  }
  const cached = cachedLlamaServerCandidates(env, gpuPresent);
  const found = cached.find(isExecutable);
  if (found) return found;
  for (const dir of (env.PATH ?? "").split(":")) {
    const candidate = join(dir, "llama-server");
    if (dir && isExecutable(candidate)) return candidate;
  }
  throw new LlamaServerStartError(
    `No llama-server found (looked for ${cached.join(" and ")} and on PATH). Build it once from the llama.cpp that node-llama-cpp ships with \`bash scripts/build-llama-server.sh\` (several minutes; a CUDA build where nvcc and a GPU are present), or name one with --llama-server PATH.`,
  );
}

/** The builds `scripts/build-llama-server.sh` caches: for this CPU, or with CUDA (where nvcc and a GPU are). */
export type LlamaServerBuild = "cpu" | "cuda";

/**
 * The cached builds to try, best first: the CUDA build and then the CPU build where an NVIDIA GPU is present
 * (a machine that had one may keep both), the CPU build alone where none is (a CUDA build would not start).
 */
export function cachedLlamaServerCandidates(
  env: Readonly<Record<string, string | undefined>>,
  gpuPresent: boolean,
): string[] {
  const builds: LlamaServerBuild[] = gpuPresent ? ["cuda", "cpu"] : ["cpu"];
  return builds.map((build) => cachedLlamaServerPath(env, build));
}

/** Where scripts/build-llama-server.sh caches its `build` (default: the CPU one) for the installed node-llama-cpp. */
export function cachedLlamaServerPath(
  env: Readonly<Record<string, string | undefined>> = process.env,
  build: LlamaServerBuild = "cpu",
): string {
  const root = env.MEDGATE_CACHE_DIR || join(homedir(), ".cache", "medgate");
  const flavour = build === "cuda" ? "cuda" : "native-noamx";
  return join(
    root,
    "llama-server",
    `node-llama-cpp@${nodeLlamaCppVersion()}-${flavour}`,
    "bin",
    "llama-server",
  );
}

let gpuSeen: boolean | undefined;

/** Whether `nvidia-smi -L`'s output lists a GPU ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: …)"). */
export function listsNvidiaGpu(output: string): boolean {
  return /^GPU \d+:/mu.test(output);
}

/**
 * Whether `nvidia-smi -L` lists an NVIDIA GPU, as scripts/build-llama-server.sh decides; asked once per process
 * (false where nvidia-smi is missing, fails or takes over 5 s).
 */
export function nvidiaGpuPresent(): boolean {
  if (gpuSeen === undefined) {
    try {
      const listed = execFileSync("nvidia-smi", ["-L"], {
        encoding: "utf8",
        timeout: 5000,
        stdio: ["ignore", "pipe", "ignore"],
      });
      gpuSeen = listsNvidiaGpu(listed);
    } catch {
      gpuSeen = false;
    }
  }
  return gpuSeen;
}

function nodeLlamaCppVersion(): string {
  // The package's exports hide its package.json; it lies two folders above the entry point (dist/index.js).
  const entry = createRequire(import.meta.url).resolve("node-llama-cpp");
  const manifest = JSON.parse(readFileSync(join(dirname(dirname(entry)), "package.json"), "utf8"));
  return String(manifest.version);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Whether `path` is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
