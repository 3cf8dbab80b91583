// Running the Python engine's scripts (trainer/engine/*.py) with its venv's interpreter and collecting their output.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Folder of the engine's scripts, beside this module. */
export const engineDir: string = fileURLToPath(new URL("./engine/", import.meta.url));

/** The venv `scripts/setup-python.sh` creates. */
export const defaultVenvDir: string = join(engineDir, ".venv");

export interface EngineOptions {
  /** The engine's virtual environment. Default: trainer/engine/.venv of this checkout */
  venvDir?: string;
}

/** Path of the venv's Python; fails with a readable message when the venv was never set up. */
export function enginePython(options: EngineOptions = {}): string {
  const venvDir = options.venvDir ?? defaultVenvDir;
  const python =
    process.platform === "win32" ? join(venvDir, "Scripts", "python.exe") : join(venvDir, "bin", "python");
  if (!existsSync(python)) {
    throw new Error(`The Python engine is not set up (${python} is missing): run \`npm run setup\` first.`);
  }
  return python;
}

export interface RunEngineScriptOptions extends EngineOptions {
  /** Text written to the script's stdin, which is then closed. Default: none (stdin closed at once) */
  input?: string;
  /** Aborting kills the script (SIGTERM) and rejects with the signal's reason. Default: none */
  signal?: AbortSignal;
  /** The script's whole environment. Default: this process's environment */
  env?: NodeJS.ProcessEnv;
  /** Called with each complete stdout line as it arrives (the engine's JSON-lines events). Default: none */
  onStdoutLine?: (line: string) => void;
}

export interface EngineScriptResult {
  stdout: string;
  /** The last {@link STDERR_KEPT} characters of stderr: training logs can be long. */
  stderr: string;
}

/** How much of a script's stderr is kept in memory. */
export const STDERR_KEPT = 256 * 1024;
/** How much of stderr an {@link EngineScriptError} message carries. */
const STDERR_TAIL_IN_MESSAGE = 4000;

/** A script that exited non-zero or was killed; `stderrTail` is what the step stores. */
export class EngineScriptError extends Error {
  override name = "EngineScriptError";
  constructor(
    readonly script: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly stderrTail: string,
  ) {
    super(
      `Python engine script ${script} ${exitCode === null ? `was killed by ${exitSignal}` : `exited with code ${exitCode}`}` +
        (stderrTail ? `:\n${stderrTail}` : ""),
    );
  }
}

/**
 * Runs `script` (a path relative to trainer/engine/, or absolute) with the venv's Python and resolves with its
 * output once it exits 0; any other exit rejects with an {@link EngineScriptError}.
 */
export function runEngineScript(
  script: string,
  args: readonly string[] = [],
  options: RunEngineScriptOptions = {},
): Promise<EngineScriptResult> {
  const python = enginePython(options);
  const scriptPath = isAbsolute(script) ? script : join(engineDir, script);
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise((resolve, reject) => {
    // -u: unbuffered, so events arrive line by line; -X utf8: UTF-8 pipes whatever the locale.
    const child = spawn(python, ["-u", "-X", "utf8", scriptPath, ...args], {
      cwd: engineDir,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let pendingLine = "";
    let settled = false;

    const onAbort = () => {
      child.kill("SIGTERM");
      finish(() => reject(signal?.reason));
    };
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (!options.onStdoutLine) return;
      const lines = (pendingLine + chunk).split("\n");
      pendingLine = lines.pop() ?? "";
      for (const line of lines) options.onStdoutLine(line);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.length > STDERR_KEPT) stderr = stderr.slice(-STDERR_KEPT);
    });
    // A script that exits without reading stdin closes the pipe under us; its exit code tells what happened.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");

    child.on("error", (error) => finish(() => reject(error)));
    child.on("close", (code, exitSignal) =>
      finish(() => {
        if (pendingLine && options.onStdoutLine) options.onStdoutLine(pendingLine);
        if (code === 0) resolve({ stdout, stderr });
        else
          reject(
            new EngineScriptError(script, code, exitSignal, stderr.slice(-STDERR_TAIL_IN_MESSAGE).trimEnd()),
          );
      }),
    );
  });
}
