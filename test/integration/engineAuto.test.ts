// `medgate serve --engine auto` (the default), run as a user runs it: on llama-server from the start where a
// binary is built; on the in-process engine while llama-server builds in the background, moving to it by a hot
// swap with no failed request under continuous traffic (a champion promoted afterwards loads there too); on the
// in-process engine for good, saying why, where nothing can be built.
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inArray } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { makeChampion, registerChampion } from "../../db/championChanges.ts";
import { registerModelVersion } from "../../db/modelVersions.ts";
import { completions } from "../../db/schema.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { cachedLlamaServerPath } from "../../inference/LlamaServerProcess.ts";
import { llamaServerBinary } from "../../loadtest/llamaServer.ts";
import { processesMatching, type ServedMedgate, serveMedgate } from "../support/medgateCli.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

/** The demo model (`npm run setup`): it carries its chat template, which llama-server needs. */
const demoModel = ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf";

let database: TestDatabase;
let scratch: string;
let apiKey: string;
let builtBinary: string;

beforeAll(async () => {
  builtBinary = await llamaServerBinary(); // scripts/build-llama-server.sh's cached build
  database = await createTestDatabase("postgres");
  scratch = await mkdtemp(join(tmpdir(), "medgate-auto-"));
  await registerChampion(
    database.db,
    { name: "demo", ggufPath: demoModel, ggufSha256: await sha256OfFile(demoModel), config: {} },
    { actor: "engineAuto.test", reason: "first champion" },
  );
  apiKey = (await createApiKey(database.db, { name: "test admin", role: "admin" })).secret;
}, 600_000);

afterAll(async () => {
  await database?.[Symbol.asyncDispose]();
  await rm(scratch, { recursive: true, force: true });
});

/** `medgate serve --engine auto` (the default), a cache folder of its own, and `env` over the test's environment. */
async function serveAuto(
  name: string,
  env: Record<string, string>,
): Promise<ServedMedgate & AsyncDisposable> {
  const served = await serveMedgate(
    [
      ...["--model", demoModel, "--model-name", "demo", "--database-url", database.url!],
      ...["--spool-dir", join(scratch, `spool-${name}`), "--port", "0", "--gpu", "cpu"],
      ...["--threads", "1", "--parallel", "2", "--context", "512", "--queue", "32"],
    ],
    // The default engine, named because the tests' helpers pin the others to in-process.
    { ...process.env, MEDGATE_ENGINE: "auto", MEDGATE_CACHE_DIR: join(scratch, `cache-${name}`), ...env },
  );
  return Object.assign(served, {
    [Symbol.asyncDispose]: async () => {
      if (served.child.exitCode !== null) return;
      served.child.kill("SIGTERM");
      await new Promise((resolve) => served.child.once("exit", resolve));
    },
  });
}

/** Puts the already-built llama-server where `serve` with cache folder `cacheDir` looks for it. */
async function cacheBinaryIn(cacheDir: string): Promise<string> {
  const target = cachedLlamaServerPath({ MEDGATE_CACHE_DIR: cacheDir });
  await mkdir(dirname(target), { recursive: true });
  await symlink(builtBinary, target);
  return target;
}

async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  stderr: () => string,
) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; serve said:\n${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const clientOf = (served: ServedMedgate) => new OpenAI({ baseURL: served.url, apiKey, maxRetries: 0 });
const ask = (client: OpenAI, content: string) =>
  client.chat.completions.create({
    model: "demo",
    messages: [{ role: "user", content }],
    max_tokens: 8,
    temperature: 0,
  });
const llamaServersOn = (binary: string) => processesMatching(`^\\S*${binary} -m ${demoModel} `);

describe("medgate serve --engine auto", () => {
  it("starts on llama-server where a binary is built", async () => {
    const binary = await cacheBinaryIn(join(scratch, "cache-found"));
    await using served = await serveAuto("found", {});
    expect(served.stderr()).toContain(`chat on llama-server (binary ${binary}; --engine auto)`);
    expect(served.stderr()).toMatch(/model "demo" ready on llama-server \(pid \d+, 2 slots × 512 tokens/u);
    expect(llamaServersOn(binary)).toHaveLength(1);
    const answer = await ask(clientOf(served), "What is a fever?");
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
  }, 180_000);

  it("answers in-process while llama-server builds, then moves to it without failing a request", async () => {
    const cacheDir = join(scratch, "cache-build");
    // The build: a few seconds, then the already-built binary in this serve's cache folder.
    const script = join(scratch, "build.sh");
    const target = cachedLlamaServerPath({ MEDGATE_CACHE_DIR: cacheDir });
    await writeFile(
      script,
      `echo "pretending to build"\nsleep 8\nmkdir -p '${dirname(target)}'\nln -s '${builtBinary}' '${target}'\necho '${target}'\n`,
    );
    await chmod(script, 0o755);
    await using served = await serveAuto("build", { MEDGATE_LLAMA_SERVER_BUILD: script });
    const { stderr } = served;
    expect(stderr()).toContain(
      `chat on the in-process engine while llama-server builds (log: ${join(cacheDir, "llama-server", "build.log")}); moves to llama-server when ready`,
    );
    expect(stderr()).toMatch(/model "demo" ready \(2 sequences × 512 tokens/u);
    const client = clientOf(served);
    // Continuous traffic, four at a time, through the switch and a while after it.
    const ids: string[] = [];
    const failures: unknown[] = [];
    const moved = () =>
      stderr().includes(`"demo" moved to another engine (llama-server is built: ${target})`);
    const deadline = Date.now() + 120_000;
    let movedAt: number | undefined;
    const worker = async (w: number) => {
      for (let i = 0; ; i++) {
        if (movedAt === undefined && moved()) movedAt = Date.now();
        if ((movedAt !== undefined && Date.now() - movedAt > 3_000) || Date.now() > deadline) return;
        try {
          ids.push((await ask(client, `Question ${w}.${i}: what lowers a fever?`)).id);
        } catch (error) {
          failures.push(error);
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    expect(failures).toEqual([]);
    expect(moved()).toBe(true);
    expect(stderr()).toMatch(/model "demo" ready on llama-server \(pid \d+/u);
    expect(llamaServersOn(target)).toHaveLength(1);
    // Answers before the switch came from the in-process engine, those after it from llama-server.
    const rows = await waitFor(
      async () => {
        const found = await database.db.select().from(completions).where(inArray(completions.id, ids));
        return found.length === ids.length ? found : undefined;
      },
      "every answer's row",
      stderr,
    );
    const byTime = rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    expect(byTime.every((row) => row.status === "stop" || row.status === "length")).toBe(true);
    expect(byTime[0]!.upstream).toBeNull();
    expect(byTime.at(-1)!.upstream).toBe("llama-server");
    expect(byTime.filter((row) => row.upstream === "llama-server").length).toBeGreaterThan(2);

    // A champion promoted after the move loads on llama-server too.
    const copy = join(scratch, "demo-v2.gguf");
    await copyFile(demoModel, copy);
    const second = await registerModelVersion(database.db, {
      name: "demo",
      ggufPath: copy,
      ggufSha256: await sha256OfFile(copy),
      status: "candidate",
    });
    await makeChampion(database.db, second.id, {
      kind: "force-promote",
      actor: "engineAuto.test",
      reason: "v2",
    });
    await waitFor(() => stderr().includes("now serving demo v2"), "the promotion", stderr);
    expect(processesMatching(`^\\S*${target} -m ${copy} `)).toHaveLength(1);
    const after = await ask(client, "After the promotion: what lowers a fever?");
    const [row] = await waitFor(
      async () => {
        const found = await database.db
          .select()
          .from(completions)
          .where(inArray(completions.id, [after.id]));
        return found.length === 1 ? found : undefined;
      },
      "the answer's row",
      stderr,
    );
    expect(row!).toMatchObject({ upstream: "llama-server", modelVersionId: second.id });
  }, 300_000);

  it("stays in-process, saying why, where no llama-server is built and none can be", async () => {
    // A PATH with neither llama-server, cmake nor a compiler.
    const emptyPath = join(scratch, "empty-path");
    await mkdir(emptyPath);
    await using served = await serveAuto("none", { PATH: emptyPath });
    expect(served.stderr()).toContain(
      "chat on the in-process engine (--engine auto): no llama-server is built and this machine cannot build one: cmake and a C++ compiler (g++ or c++) not found (sudo apt-get install cmake g++, then start again)",
    );
    expect(served.stderr()).toMatch(/model "demo" ready \(2 sequences × 512 tokens/u);
    const answer = await ask(clientOf(served), "What is a fever?");
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
  }, 180_000);
});
