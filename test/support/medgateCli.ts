// The `medgate` command as a child process of the test, as a user runs it: its exit code and output, and the
// process itself, to kill.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";

const bin = new URL("../../bin/medgate.js", import.meta.url).pathname;

export type MedgateOutput = { code: number | null; stdout: string; stderr: string };

export function spawnMedgate(args: string[]): ChildProcess & { output: Promise<MedgateOutput> } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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
