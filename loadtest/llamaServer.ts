// A real llama-server (built from node-llama-cpp's bundled llama.cpp by scripts/build-llama-server.sh, cached
// per machine) on a loopback port, for the upstream tests and the upstream benchmark.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";

export type LlamaServer = AsyncDisposable & {
  /** Base URL of its OpenAI API (`http://127.0.0.1:PORT/v1`). */
  url: string;
  port: number;
  process: ChildProcess;
  /** Its output so far, for failure messages. */
  output(): string;
  /** Ends it with SIGKILL, as a crash would, and waits for it to exit. */
  kill(): Promise<void>;
};

/** The llama-server binary: built once per machine and node-llama-cpp version, then reused. */
export async function llamaServerBinary(): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", ["scripts/build-llama-server.sh"], {
    maxBuffer: 1 << 24,
  });
  const path = stdout.trim().split("\n").at(-1);
  if (!path) throw new Error("scripts/build-llama-server.sh printed no path");
  return path;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export type LlamaServerOptions = {
  modelPath: string;
  /** Slots (sequences decoded together). Default: 2 */
  parallel?: number;
  /** Context of all slots together, as llama-server's -c. Default: 512 per slot */
  contextSize?: number;
  threads?: number;
  apiKey?: string;
  /** The model id it answers to. Default: "tiny" */
  alias?: string;
  extraArgs?: string[];
};

export async function startLlamaServer(options: LlamaServerOptions): Promise<LlamaServer> {
  const binary = await llamaServerBinary();
  const port = await freePort();
  const parallel = options.parallel ?? 2;
  const args = [
    "-m",
    options.modelPath,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "-np",
    String(parallel),
    "-c",
    String(options.contextSize ?? 512 * parallel),
    "-t",
    String(options.threads ?? 1),
    "-tb",
    String(options.threads ?? 1),
    "--alias",
    options.alias ?? "tiny",
    "--no-webui",
    ...(options.apiKey ? ["--api-key", options.apiKey] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `llama-server exited while starting (${child.exitCode ?? child.signalCode}):\n${output}`,
      );
    }
    const ok = await fetch(`${url}/health`)
      .then((response) => response.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`llama-server did not become healthy in 120 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  return {
    url: `${url}/v1`,
    port,
    process: child,
    output: () => output,
    kill,
    [Symbol.asyncDispose]: kill,
  };
}
