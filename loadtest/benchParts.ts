// What the serving benchmarks share: the questions, a load client in its own process, a `medgate serve` child
// process, and the statistics.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { LoadResult } from "./chatLoad.ts";

const questions = [
  "What are the first-line treatments for community-acquired pneumonia?",
  "Explain the difference between type 1 and type 2 diabetes.",
  "What are warning signs of a stroke?",
  "How is iron-deficiency anaemia diagnosed?",
];

/** Request `index` for `model`: the questions in turn, sampled at 0.7 with the index as seed. */
export function benchBody(model: string, index: number, maxTokens: number) {
  return {
    model,
    messages: [{ role: "user" as const, content: questions[index % questions.length]! }],
    max_tokens: maxTokens,
    temperature: 0.7,
    seed: index,
  };
}

/** The first `requests` request bodies for `model`. */
export function benchBodies(model: string, requests: number, maxTokens: number): Record<string, unknown>[] {
  return Array.from({ length: requests }, (_, index) => benchBody(model, index, maxTokens));
}

/** One closed-loop load from a child process at lower priority: clients do not share a server's event loop. */
export async function runLoadClient(options: {
  url: string;
  apiKey?: string;
  concurrency: number;
  bodies: Record<string, unknown>[];
  stream?: boolean;
}): Promise<LoadResult & { clientCpuMs: number }> {
  const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
  const client = fileURLToPath(new URL("./loadClient.ts", import.meta.url));
  const args = ["--url", options.url, "--concurrency", String(options.concurrency)];
  args.push("--requests", String(options.bodies.length), "--bodies", JSON.stringify(options.bodies));
  if (options.apiKey) args.push("--api-key", options.apiKey);
  if (options.stream) args.push("--stream");
  const { stdout } = await promisify(execFile)("nice", ["-n", "10", process.execPath, tsx, client, ...args], {
    maxBuffer: 1 << 26,
  });
  return JSON.parse(stdout) as LoadResult & { clientCpuMs: number };
}

export type ServeProcess = AsyncDisposable & { child: ChildProcess; url: string; key: string };

/** `medgate serve ARGS` in a child process; resolves once it prints its URL (the admin key comes on stderr first). */
export async function startServeProcess(
  args: string[],
  env: Record<string, string> = {},
  /** The medgate command to run (another checkout's `bin/medgate.js`). Default: this checkout's */
  bin = fileURLToPath(new URL("../bin/medgate.js", import.meta.url)),
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    // In-process unless the bench names an engine: `--engine auto` would otherwise pick llama-server where one is
    // built, or build one meanwhile, and the figures would mix engines.
    env: { MEDGATE_ENGINE: "node-llama-cpp", ...process.env, ...env },
  });
  let stderr = "";
  child.stderr!.on("data", (data) => (stderr += data));
  const [url] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), "line"),
    once(child, "exit").then(() => {
      throw new Error(`serve exited: ${stderr}`);
    }),
  ])) as [string];
  const key = /API key \(shown only now\): (\S+)/u.exec(stderr)?.[1];
  if (!key) throw new Error(`no admin key printed: ${stderr}`);
  return {
    child,
    url,
    key,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The median (the mean of the middle two for an even count). */
export function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The value below which a share `p` of the numbers lie (nearest rank). */
export function percentile(numbers: number[], p: number): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
}
