import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cachedLlamaServerCandidates,
  cachedLlamaServerPath,
  chatTemplateArgs,
  findLlamaServerBinary,
  LlamaServerProcess,
  LlamaServerStartError,
  listsNvidiaGpu,
} from "./LlamaServerProcess.ts";

let dir: string;

async function executable(path: string, script: string): Promise<string> {
  await writeFile(path, `#!/bin/sh\n${script}\n`);
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medgate-llama-server-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("findLlamaServerBinary", () => {
  it("takes the path given, and refuses one that cannot run", async () => {
    const given = await executable(join(dir, "given"), "exit 0");
    expect(findLlamaServerBinary(given, {}, false)).toBe(given);
    await writeFile(join(dir, "plain"), "not a program");
    expect(() => findLlamaServerBinary(join(dir, "plain"), {}, false)).toThrow(
      /is not an executable llama-server/u,
    );
    expect(() => findLlamaServerBinary(join(dir, "missing"), {}, false)).toThrow(LlamaServerStartError);
  });

  it("else the build script's cache for this node-llama-cpp, else PATH, else says how to get one", async () => {
    const cacheDir = join(dir, "cache");
    const pathDir = join(dir, "bin");
    await mkdir(pathDir, { recursive: true });
    const env = { MEDGATE_CACHE_DIR: cacheDir, PATH: `/nonexistent:${pathDir}` };
    const cached = cachedLlamaServerPath(env);
    expect(cached).toMatch(
      new RegExp(
        `^${cacheDir}/llama-server/node-llama-cpp@\\d+\\.\\d+\\.\\d+-native-noamx/bin/llama-server$`,
        "u",
      ),
    );
    expect(() => findLlamaServerBinary(undefined, env, false)).toThrow(/scripts\/build-llama-server\.sh/u);
    const onPath = await executable(join(pathDir, "llama-server"), "exit 0");
    expect(findLlamaServerBinary(undefined, env, false)).toBe(onPath);
    await mkdir(join(cached, ".."), { recursive: true });
    await executable(cached, "exit 0");
    expect(findLlamaServerBinary(undefined, env, false)).toBe(cached);
  });

  it("prefers the cached CUDA build where a GPU is present, and never picks it where none is", async () => {
    const env = { MEDGATE_CACHE_DIR: join(dir, "gpu-cache"), PATH: "/nonexistent" };
    const cpu = cachedLlamaServerPath(env);
    const cuda = cachedLlamaServerPath(env, "cuda");
    expect(cuda).toMatch(/\/node-llama-cpp@\d+\.\d+\.\d+-cuda\/bin\/llama-server$/u);
    expect(cachedLlamaServerPath(env, "cpu")).toBe(cpu);
    expect(cachedLlamaServerCandidates(env, true)).toEqual([cuda, cpu]);
    expect(cachedLlamaServerCandidates(env, false)).toEqual([cpu]);

    // Only the CUDA build cached: taken with a GPU; without one it is no answer.
    await mkdir(join(cuda, ".."), { recursive: true });
    await executable(cuda, "exit 0");
    expect(findLlamaServerBinary(undefined, env, true)).toBe(cuda);
    expect(() => findLlamaServerBinary(undefined, env, false)).toThrow(/-native-noamx\/bin\/llama-server/u);
    // Both cached: each machine gets its own.
    await mkdir(join(cpu, ".."), { recursive: true });
    await executable(cpu, "exit 0");
    expect(findLlamaServerBinary(undefined, env, true)).toBe(cuda);
    expect(findLlamaServerBinary(undefined, env, false)).toBe(cpu);
    // A path given wins over both.
    const given = await executable(join(dir, "given-gpu"), "exit 0");
    expect(findLlamaServerBinary(given, env, true)).toBe(given);
  });

  it("counts a GPU only where nvidia-smi -L lists one", () => {
    expect(
      listsNvidiaGpu("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5b1c0d2e-8a4f-4c1e-9f3a-2d7e6b0c1a9f)\n"),
    ).toBe(true);
    expect(listsNvidiaGpu("GPU 0: NVIDIA H200 (UUID: GPU-1)\nGPU 1: NVIDIA H200 (UUID: GPU-2)\n")).toBe(true);
    expect(listsNvidiaGpu("No devices were found\n")).toBe(false);
    expect(listsNvidiaGpu("")).toBe(false);
  });
});

describe("LlamaServerProcess", () => {
  const options = (binary: string) => ({
    binary,
    modelPath: "/models/m.gguf",
    alias: "m",
    parallel: 2,
    contextSize: 512,
    threads: 1,
    log: () => {},
  });

  it("fails to start with the exit status and the output of a llama-server that exits", async () => {
    const failing = await executable(join(dir, "failing"), 'echo "error: cannot load $2" >&2; exit 3');
    const logged: string[] = [];
    const error = await LlamaServerProcess.start({
      ...options(failing),
      log: (line) => logged.push(line),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LlamaServerStartError);
    expect((error as Error).message).toMatch(/exited while starting \(3\)/u);
    expect((error as Error).message).toContain("error: cannot load /models/m.gguf");
    // A child that never answered failed to start: no restart is scheduled or announced.
    expect(logged).toEqual([]);
  });

  it("passes the slots, the context of all slots, threads and its own key", async () => {
    const argsFile = join(dir, "args.txt");
    const recording = await executable(join(dir, "recording"), `echo "$@" > ${argsFile}; exit 1`);
    await LlamaServerProcess.start({ ...options(recording), gpuLayers: 0 }).catch(() => {});
    const args = (await readFile(argsFile, "utf8")).trim();
    expect(args).toMatch(
      /^-m \/models\/m\.gguf --alias m --host 127\.0\.0\.1 --port \d+ --api-key [0-9a-f]{48} /u,
    );
    expect(args).toContain("-np 2 -c 1024 -t 1 -tb 1 -ngl 0 --no-webui");
  });
});

describe("chatTemplateArgs", () => {
  it("renders the GGUF's own template, else a catalog family llama-server has, else refuses", () => {
    expect(chatTemplateArgs("{{ messages }}", "human-assistant")).toEqual(["--jinja"]);
    expect(chatTemplateArgs(undefined, "llama3")).toEqual(["--chat-template", "llama3"]);
    expect(chatTemplateArgs(undefined, "chatml")).toEqual(["--chat-template", "chatml"]);
    expect(() => chatTemplateArgs(undefined, "human-assistant")).toThrow(/--engine node-llama-cpp/u);
    expect(() => chatTemplateArgs(undefined, undefined)).toThrow(/no chat template/u);
  });
});
