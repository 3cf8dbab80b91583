import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaServerBuild, llamaServerAvailability } from "./LlamaServerBuild.ts";
import { cachedLlamaServerPath } from "./LlamaServerProcess.ts";

let dir: string;

async function executable(path: string, script: string): Promise<string> {
  await writeFile(path, `#!/bin/sh\n${script}\n`);
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medgate-llama-build-"));
  await mkdir(join(dir, "tools"));
  await mkdir(join(dir, "nothing"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("llamaServerAvailability", () => {
  it("finds a binary, else a build where cmake and a compiler are on PATH, else says what is missing", async () => {
    const env = { MEDGATE_CACHE_DIR: join(dir, "cache"), PATH: join(dir, "nothing") };
    expect(llamaServerAvailability(undefined, undefined, env)).toEqual({
      kind: "unavailable",
      reason:
        "no llama-server is built and this machine cannot build one: cmake and a C++ compiler (g++ or c++) not found (sudo apt-get install cmake g++, then start again)",
    });
    await executable(join(dir, "tools", "cmake"), "exit 0");
    const onlyCmake = { ...env, PATH: join(dir, "tools") };
    expect(llamaServerAvailability(undefined, undefined, onlyCmake)).toMatchObject({
      kind: "unavailable",
      reason: expect.stringContaining(": a C++ compiler (g++ or c++) not found"),
    });
    await executable(join(dir, "tools", "c++"), "exit 0");
    expect(llamaServerAvailability(undefined, undefined, onlyCmake)).toMatchObject({
      kind: "buildable",
      command: expect.stringMatching(/scripts\/build-llama-server\.sh$/u),
      logPath: join(dir, "cache", "llama-server", "build.log"),
    });
    expect(llamaServerAvailability(undefined, "off", onlyCmake)).toMatchObject({ kind: "unavailable" });
    const given = await executable(join(dir, "my-llama-server"), "exit 0");
    expect(llamaServerAvailability(given, undefined, env)).toEqual({ kind: "found", binary: given });
    expect(() => llamaServerAvailability(join(dir, "missing"), undefined, env)).toThrow(/not an executable/u);
  });
});

describe("LlamaServerBuild", () => {
  it("runs the build script in the background, logs its output and finds the binary it cached", async () => {
    const env = { MEDGATE_CACHE_DIR: join(dir, "built"), PATH: process.env.PATH };
    const target = cachedLlamaServerPath(env);
    const script = await executable(
      join(dir, "build.sh"),
      `echo building\nmkdir -p "$(dirname '${target}')"\nprintf '#!/bin/sh\\n' > '${target}'\nchmod +x '${target}'`,
    );
    const logPath = join(dir, "built", "build.log");
    await using build = LlamaServerBuild.start(script, logPath, env);
    expect(await build.done).toBe(target);
    expect(await readFile(logPath, "utf8")).toContain("building");
  });

  it("resolves with nothing when the build fails or is stopped", async () => {
    const env = { MEDGATE_CACHE_DIR: join(dir, "failed"), PATH: process.env.PATH };
    const failing = await executable(join(dir, "fail.sh"), "echo no compiler; exit 1");
    expect(await LlamaServerBuild.start(failing, join(dir, "failed.log"), env).done).toBeUndefined();
    const slow = await executable(join(dir, "slow.sh"), "sleep 30");
    const build = LlamaServerBuild.start(slow, join(dir, "slow.log"), env);
    const started = Date.now();
    await build[Symbol.asyncDispose]();
    expect(await build.done).toBeUndefined();
    expect(build.stopped).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
