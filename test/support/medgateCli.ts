// The `medgate` command as a child process of the test, as a user runs it: its exit code and output, and the
// process itself, to kill.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

const bin = new URL("../../bin/medgate.js", import.meta.url).pathname;

export type MedgateOutput = { code: number | null; stdout: string; stderr: string };

/**
 * The tests' environment for medgate: chat in-process unless a test names an engine (`--engine`, or MEDGATE_ENGINE in
 * `env`), so that `--engine auto` never starts a llama-server build behind a test about something else.
 */
export function medgateEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return "MEDGATE_ENGINE" in env ? env : { ...env, MEDGATE_ENGINE: "node-llama-cpp" };
}

export function spawnMedgate(args: string[]): ChildProcess & { output: Promise<MedgateOutput> } {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: medgateEnv(),
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (data) => (stdout += data));
  child.stderr!.on("data", (data) => (stderr += data));
  const output = new Promise<MedgateOutput>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return Object.assign(child, { output });
}

/** The process ids whose command line contains `pattern` (pgrep -f), e.g. an engine working in a folder. */
export function processesMatching(pattern: string): string[] {
  try {
    return execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** A running `medgate serve`: the child, the API URL it printed, and what it wrote to stderr so far. */
export type ServedMedgate = { child: ChildProcess; url: string; stderr: () => string };

/** Starts `medgate serve ARGS` and resolves with the API URL it prints once listening; rejects if it exits first. */
export async function serveMedgate(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServedMedgate> {
  const child = spawn(process.execPath, [bin, "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: medgateEnv(env),
  });
  let stderr = "";
  child.stderr!.on("data", (data) => (stderr += data));
  const lines = createInterface({ input: child.stdout! });
  const [url] = (await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(() => {
      throw new Error(`serve exited early: ${stderr}`);
    }),
  ])) as [string];
  return { child, url, stderr: () => stderr };
}
