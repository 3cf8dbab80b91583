// `--engine auto`: whether this machine has a llama-server, can build one, or neither; and the build itself, run in
// the background as a child process (scripts/build-llama-server.sh by default) with its output in a log file, so
// that serving never waits for it. The build caches its binary where `findLlamaServerBinary` looks.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cachedLlamaServerPath,
  findLlamaServerBinary,
  isExecutable,
  LlamaServerStartError,
} from "./LlamaServerProcess.ts";

/** What `--engine auto` finds: a binary to run now, a build to start, or a reason there is neither. */
export type LlamaServerAvailability =
  | { kind: "found"; binary: string }
  | { kind: "buildable"; command: string; logPath: string }
  | { kind: "unavailable"; reason: string };

/** The repository root, where scripts/build-llama-server.sh runs (it reads node_modules/node-llama-cpp). */
const packageRoot = fileURLToPath(new URL("../", import.meta.url));
const defaultBuildCommand = join(packageRoot, "scripts", "build-llama-server.sh");

/**
 * Where a llama-server comes from under `--engine auto`: `given` or the cached build or one on PATH; else a build,
 * with `buildCommand` (a script run with bash; "off" never builds; default scripts/build-llama-server.sh, which
 * needs cmake and a C++ compiler on PATH).
 */
export function llamaServerAvailability(
  given: string | undefined,
  buildCommand: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): LlamaServerAvailability {
  try {
    return { kind: "found", binary: findLlamaServerBinary(given, env) };
  } catch (error) {
    if (given || !(error instanceof LlamaServerStartError)) throw error;
  }
  if (buildCommand === "off") {
    return { kind: "unavailable", reason: "no llama-server is built and building one is turned off" };
  }
  const logPath = join(dirname(dirname(dirname(cachedLlamaServerPath(env)))), "build.log");
  if (buildCommand) return { kind: "buildable", command: buildCommand, logPath };
  const missing = ["cmake", "a C++ compiler (g++ or c++)"].filter((_, i) =>
    i === 0 ? !onPath("cmake", env) : !onPath("g++", env) && !onPath("c++", env),
  );
  if (missing.length > 0) {
    return {
      kind: "unavailable",
      reason: `no llama-server is built and this machine cannot build one: ${missing.join(" and ")} not found (sudo apt-get install cmake g++, then start again)`,
    };
  }
  return { kind: "buildable", command: defaultBuildCommand, logPath };
}

/** A llama-server build running in the background; disposing it stops the build. */
export class LlamaServerBuild implements AsyncDisposable {
  readonly logPath: string;
  /** The built binary, or undefined when the build failed or was stopped (see the log). */
  readonly done: Promise<string | undefined>;
  readonly #child: ChildProcess;
  /** True once disposing stopped it. */
  stopped = false;

  private constructor(child: ChildProcess, logPath: string, done: Promise<string | undefined>) {
    this.#child = child;
    this.logPath = logPath;
    this.done = done;
  }

  /** Starts `command` with bash in the repository root, appending its output to `logPath`. */
  static start(
    command: string,
    logPath: string,
    env: Readonly<Record<string, string | undefined>>,
  ): LlamaServerBuild {
    mkdirSync(dirname(logPath), { recursive: true });
    const log = openSync(logPath, "a");
    // Its own process group, so that stopping it stops cmake and the compilers under it; nice, so that the
    // answers served meanwhile keep the CPU.
    const child = spawn("nice", ["-n", "10", "bash", command], {
      cwd: packageRoot,
      env: { ...env } as NodeJS.ProcessEnv,
      stdio: ["ignore", log, log],
      detached: true,
    });
    const done = new Promise<string | undefined>((resolve) => {
      child.once("error", () => resolve(undefined));
      child.once("exit", (code) => {
        if (code !== 0) return resolve(undefined);
        try {
          resolve(findLlamaServerBinary(undefined, env));
        } catch {
          resolve(undefined);
        }
      });
    });
    return new LlamaServerBuild(child, logPath, done);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const child = this.#child;
    this.stopped = true;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await this.done;
  }
}

function onPath(program: string, env: Readonly<Record<string, string | undefined>>): boolean {
  return (env.PATH ?? "").split(":").some((dir) => dir !== "" && isExecutable(join(dir, program)));
}
