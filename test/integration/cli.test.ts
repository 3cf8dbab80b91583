// The medgate command as a user runs it: help, flag errors, serving a model, and SIGTERM draining.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { createDatabase } from "../../db/createDatabase.ts";
import { completions, evalRuns } from "../../db/schema.ts";
import { CompletionLog } from "../../gateway/log/CompletionLog.ts";
import { sha256OfFile } from "../../inference/fileDigest.ts";
import { startLlamaServer } from "../../loadtest/llamaServer.ts";
import { completionRow } from "../support/completionRows.ts";
import { testModels } from "../support/fixtures.ts";
import { medgateEnv, serveMedgate } from "../support/medgateCli.ts";
import { createTestDatabase } from "../support/testDatabase.ts";

const bin = new URL("../../bin/medgate.js", import.meta.url).pathname;

function run(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: medgateEnv(env),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data) => (stdout += data));
    child.stderr.on("data", (data) => (stderr += data));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const serve = (args: string[]) => serveMedgate(args);

describe("medgate keys and db", () => {
  it.each(["pglite", "postgres"] as const)(
    "creates, lists and revokes keys on %s, printing the secret once",
    async (kind) => {
      // PGlite runs in a fresh folder; PostgreSQL in a fresh database, handed over through DATABASE_URL.
      const database = kind === "postgres" ? await createTestDatabase(kind) : undefined;
      await database?.disconnect();
      const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
      const env = { ...process.env, DATABASE_URL: database?.url ?? "" };
      const where = ["--data-dir", dataDir];
      try {
        expect((await run(["db", "migrate", ...where], env)).code).toBe(0);
        const created = await run(
          ["keys", "create", "--role", "clinician", "--name", "Dr. Rivera", ...where],
          env,
        );
        expect(created.code).toBe(0);
        const secret = created.stdout.trim();
        expect(secret).toMatch(/^mg-[\w-]{20,}$/u);
        const listed = await run(["keys", "list", ...where], env);
        expect(listed.stdout).toContain("Dr. Rivera");
        expect(listed.stdout).toContain("clinician");
        expect(listed.stdout).not.toContain(secret);
        const prefix = secret.slice(0, 8);
        expect((await run(["keys", "revoke", prefix, ...where], env)).code).toBe(0);
        const again = await run(["keys", "revoke", prefix, ...where], env);
        expect(again.code).toBe(2);
        expect(again.stderr).toContain("No active key");
        const badRole = await run(["keys", "create", "--role", "doctor", "--name", "x", ...where], env);
        expect(badRole.code).toBe(2);
      } finally {
        await database?.[Symbol.asyncDispose]();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});

describe("medgate keys limits and storage policy", () => {
  it("creates a key with limits and no stored text, then updates it by prefix", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const where = ["--data-dir", dataDir];
    const env = { ...process.env, DATABASE_URL: "" };
    const keys = (...args: string[]) => run(["keys", ...args, ...where], env);
    /** The list's row of the key with this prefix, by column. */
    const listed = async (prefix: string) => {
      const [header, ...rows] = (await keys("list")).stdout.trim().split("\n");
      const row = rows.map((line) => line.split("\t")).find((cells) => cells[1] === prefix);
      return Object.fromEntries(header!.split("\t").map((column, index) => [column, row?.[index]]));
    };
    try {
      const created = await keys(
        "create",
        ...["--role", "client", "--name", "ward app", "--rpm", "30", "--tpm", "5000", "--no-store-text"],
      );
      expect(created.code).toBe(0);
      expect(created.stderr).toContain(
        "requests/min: 30, generated tokens/min: 5000, conversations never stored",
      );
      const prefix = created.stdout.trim().slice(0, 8);
      expect(await listed(prefix)).toMatchObject({ rpm: "30", tpm: "5000", text: "not stored" });

      const updated = await keys("update", prefix, "--rpm", "none", "--tpm", "default", "--store-text");
      expect(updated.code).toBe(0);
      expect(updated.stderr).toContain("requests/min: no limit, generated tokens/min: the role's default");
      expect(await listed(prefix)).toMatchObject({ rpm: "none", tpm: "default", text: "stored" });
      expect((await keys("update", prefix, "--tpm", "120")).code).toBe(0);
      expect(await listed(prefix)).toMatchObject({ rpm: "none", tpm: "120", text: "stored" });

      for (const [args, message] of [
        [["update", prefix, "--rpm", "0"], "Invalid --rpm"],
        [["update", prefix, "--tpm", "lots"], "Invalid --tpm"],
        [["update", prefix], "keys update needs --rpm"],
        [["update", prefix, "--store-text", "--no-store-text"], "not both"],
        [["update", "mg-nokey", "--rpm", "5"], "No active key"],
      ] as const) {
        const refused = await keys(...args);
        expect(refused.code, args.join(" ")).toBe(2);
        expect(refused.stderr).toContain(message);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("medgate serve role limits", () => {
  it("limits keys without their own limits by their role's, from flags and the environment", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const { child, url, stderr } = await serveMedgate(
      [
        ...["--data-dir", join(dataDir, "db"), "--spool-dir", join(dataDir, "spool")],
        ...["--model", testModels().ggufPath, "--model-name", "tiny", "--port", "0", "--threads", "1"],
        ...["--gpu", "cpu", "--admin-rpm", "2"],
      ],
      { ...process.env, MEDGATE_ADMIN_TPM: "100000" },
    );
    try {
      const apiKey = /created a local admin API key \(shown only now\): (\S+)/u.exec(stderr())?.[1];
      const models = () => fetch(`${url}/models`, { headers: { authorization: `Bearer ${apiKey}` } });
      const first = await models();
      expect(first.status).toBe(200);
      expect(first.headers.get("x-ratelimit-limit-requests")).toBe("2");
      expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("1");
      expect(first.headers.get("x-ratelimit-limit-tokens")).toBe("100000");
      expect((await models()).status).toBe(200);
      const refused = await models();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    } finally {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("medgate CLI", () => {
  it("prints help for the program and each command", async () => {
    const top = await run(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("serve");
    expect(top.stdout).toContain("fixtures");
    const serveHelp = await run(["serve", "--help"]);
    expect(serveHelp.code).toBe(0);
    for (const flag of ["--model", "--host", "--port", "--parallel", "--threads", "--context"]) {
      expect(serveHelp.stdout).toContain(flag);
    }
    expect(serveHelp.stdout).toContain("--engine auto|node-llama-cpp|llama-server");
    expect(serveHelp.stdout).toMatch(/\[MEDGATE_ENGINE\]\s+\(default: auto\)/u);
    const fixturesHelp = await run(["fixtures", "--help"]);
    expect(fixturesHelp.code).toBe(0);
    expect(fixturesHelp.stdout).toContain("--out");
  });

  it("refuses bad flags and missing models with a clear message", async () => {
    const badFlag = await run(["serve", "--parallel", "zero"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("--parallel");
    const unknown = await run(["serve", "--no-such-flag"]);
    expect(unknown.code).toBe(2);
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const missing = await run([
      "serve",
      "--model",
      "/nonexistent/model.gguf",
      "--port",
      "0",
      "--data-dir",
      dataDir,
    ]);
    await rm(dataDir, { recursive: true, force: true });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("/nonexistent/model.gguf");
  });

  it("checks the identity provider's options before serving, never printing the client secret", async () => {
    const env = {
      ...process.env,
      MEDGATE_OIDC_ISSUER: "https://login.example.org/realms/hospital",
      MEDGATE_OIDC_CLIENT_ID: "medgate",
      MEDGATE_OIDC_CLIENT_SECRET: "never-print-this-secret",
      MEDGATE_OIDC_CLINICIAN_GROUPS: "clinicians",
    };
    const noRedirect = await run(["serve", "--port", "0"], env);
    expect(noRedirect.code).toBe(2);
    expect(noRedirect.stderr).toContain("--oidc-issuer needs --oidc-redirect-url");
    const badRedirect = await run(
      ["serve", "--port", "0", "--oidc-redirect-url", "https://medgate.example.org/login"],
      env,
    );
    expect(badRedirect.code).toBe(2);
    expect(badRedirect.stderr).toContain("/auth/callback");
    for (const output of [noRedirect, badRedirect]) {
      expect(output.stdout + output.stderr).not.toContain("never-print-this-secret");
    }
    const help = await run(["serve", "--help"]);
    for (const flag of ["--oidc-issuer", "--oidc-client-secret-file", "--oidc-admin-groups", "--sso-only"]) {
      expect(help.stdout).toContain(flag);
    }
  });

  it("serves a model, prints its URL, and drains an in-flight stream on SIGTERM", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const { child, url, stderr } = await serve([
      ...["--data-dir", join(dataDir, "db"), "--spool-dir", join(dataDir, "spool")],
      "--model",
      testModels().ggufPath,
      "--model-name",
      "tiny",
      "--port",
      "0",
      "--threads",
      "1",
      "--gpu",
      "cpu",
    ]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    // A new embedded database gets one admin key, printed once; the server never runs open.
    const apiKey = /created a local admin API key \(shown only now\): (\S+)/u.exec(stderr())?.[1];
    expect(apiKey).toMatch(/^mg-/u);
    expect((await fetch(`${url}/models`)).status).toBe(401);
    const client = new OpenAI({ baseURL: url, apiKey, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "Describe the management of sepsis." }],
      max_tokens: 300,
      temperature: 1,
      seed: 1,
      stream: true,
    });
    const exited = once(child, "exit");
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      if (++chunks === 2) child.kill("SIGTERM");
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish === "stop" || finish === "length").toBe(true);
    const [code] = await exited;
    expect(code).toBe(0);
    await expect(fetch(`${url}/models`)).rejects.toThrow();
    await rm(dataDir, { recursive: true, force: true });
  });
});

describe("medgate serve --upstreams", () => {
  it("serves the names of an upstreams file from a llama-server, and refuses a bad file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const file = join(dir, "upstreams.json");
    await using llamaServer = await startLlamaServer({ modelPath: testModels().ggufPath });
    const upstreams = (extra: object) =>
      JSON.stringify({
        models: { fleet: { upstreams: [{ name: "ls", url: llamaServer.url, model: "tiny", ...extra }] } },
      });
    await writeFile(file, upstreams({ apiKeyEnv: "NO_SUCH_KEY_VARIABLE" }));
    const unset = await run([
      "serve",
      "--upstreams",
      file,
      "--upstreams-only",
      "--data-dir",
      join(dir, "db"),
    ]);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain(
      `${file}: models.fleet: the key variable NO_SUCH_KEY_VARIABLE of upstream "ls" is not set`,
    );
    await writeFile(file, upstreams({ weight: -1 }));
    const bad = await run(["serve", "--upstreams", file, "--data-dir", join(dir, "db")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}: models.fleet.upstreams.0.weight`);

    await writeFile(file, upstreams({}));
    const { child, url, stderr } = await serve([
      ...["--upstreams", file, "--upstreams-only", "--port", "0"],
      ...["--data-dir", join(dir, "db"), "--spool-dir", join(dir, "spool")],
    ]);
    try {
      expect(stderr()).toContain('"fleet" served by 1 upstream(s), 1 healthy');
      const apiKey = /created a local admin API key \(shown only now\): (\S+)/u.exec(stderr())?.[1];
      const client = new OpenAI({ baseURL: url, apiKey, maxRetries: 0 });
      expect((await client.models.list()).data.map((model) => model.id)).toEqual(["fleet"]);
      const answer = await client.chat.completions.create({
        model: "fleet",
        messages: [{ role: "user", content: "What is sepsis?" }],
        max_tokens: 8,
      });
      expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
      // The answer came only once its row was durable: it reads back at once.
      const stored = await fetch(`${url}/chat/completions/${answer.id}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(((await stored.json()) as { medgate: { upstream: string } }).medgate.upstream).toBe("ls");
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("medgate serve beside another", () => {
  it("starts two gateways from one folder on two data folders, each with its own derived spool", async () => {
    const root = await mkdtemp(join(tmpdir(), "medgate-cli-two-"));
    const children: ChildProcess[] = [];
    try {
      for (const name of ["a", "b"]) {
        const args = ["--data-dir", join(root, name), "--model", testModels().ggufPath, "--port", "0"];
        const { child, url } = await serve([...args, "--threads", "1", "--gpu", "cpu"]);
        children.push(child);
        expect(url).toMatch(/^http:/u);
        expect(existsSync(join(root, `${name}-spool`, "spool.lock"))).toBe(true);
      }
      // The same folder twice: the second is refused with the flag that fixes it.
      const clash = await run(["serve", "--data-dir", join(root, "c"), "--spool-dir", join(root, "a-spool")]);
      expect(clash.code).toBe(1);
      expect(clash.stderr).toMatch(/--spool-dir \(MEDGATE_SPOOL_DIR\)/u);
    } finally {
      for (const child of children) {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("medgate eval run on a GGUF file", () => {
  it("scores a file that is not registered and stores the run with the file's sha256", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-eval-"));
    try {
      const where = ["--data-dir", dataDir, "--threads", "1"];
      const scored = await run(["eval", "run", "--model", testModels().ggufPath, "--limit", "3", ...where]);
      expect(scored.code, scored.stderr).toBe(0);
      expect(scored.stdout).toMatch(/^pooled\t\d+\t/mu);
      expect(scored.stderr).toContain("an unregistered file");
      const missing = await run(["eval", "run", "--model", "./nowhere.gguf", ...where]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("No GGUF file at ./nowhere.gguf");
      const med42 = ["eval", "run", "--model", testModels().ggufPath, "--limit", "2", "--protocol", "med42"];
      const chat = await run([...med42, ...where]);
      expect(chat.code, chat.stderr).toBe(0);
      const shots = await run([...med42, "--shots", "5", ...where]);
      expect(shots.code).toBe(2);
      expect(shots.stderr).toContain("the med42 protocol is zero-shot");
      const unknown = await run([
        "eval",
        "run",
        "--model",
        testModels().ggufPath,
        "--protocol",
        "helm",
        ...where,
      ]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/--protocol.*lm-eval.*med42/u);
      const handle = await createDatabase({ dataDir });
      const stored = await handle.db.select().from(evalRuns).orderBy(evalRuns.startedAt);
      await handle[Symbol.asyncDispose]();
      expect(stored).toHaveLength(2);
      expect(stored[0]).toMatchObject({
        modelVersionId: null,
        ggufPath: testModels().ggufPath,
        ggufSha256: await sha256OfFile(testModels().ggufPath),
        status: "finished",
        // The suite's protocol where the command names none.
        settings: { protocol: "lm-eval", shots: 0, limit: 3 },
      });
      expect(stored[1]).toMatchObject({
        status: "finished",
        settings: { protocol: "med42", shots: 0, limit: 2 },
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("medgate logs prune", () => {
  it("deletes only rows older than the given age", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "medgate-cli-"));
    const handle = await createDatabase({ dataDir });
    await handle.migrate();
    const row = (id: string, daysAgo: number) =>
      completionRow(id, { createdAt: new Date(Date.now() - daysAgo * 86_400_000) });
    await handle.db.insert(completions).values([row("old", 100), row("recent", 10)]);
    await handle[Symbol.asyncDispose]();
    try {
      const bad = await run(["logs", "prune", "--older-than", "ninety", "--data-dir", dataDir]);
      expect(bad.code).toBe(2);
      const pruned = await run(["logs", "prune", "--older-than", "90d", "--data-dir", dataDir]);
      expect(pruned.code).toBe(0);
      expect(pruned.stdout.trim()).toBe("1");
      const check = await createDatabase({ dataDir });
      const left = await check.db.select({ id: completions.id }).from(completions);
      await check[Symbol.asyncDispose]();
      expect(left).toEqual([{ id: "recent" }]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("medgate logs rejected", () => {
  it("lists the rows the database refused with the reason, and replays them after a fix", async () => {
    const database = await createTestDatabase("postgres");
    const spoolDir = await mkdtemp(join(tmpdir(), "medgate-cli-spool-"));
    const env = { ...process.env, DATABASE_URL: database.url! };
    const row = (id: string, ward: string) =>
      completionRow(id, { messages: [{ role: "user", content: `ward ${ward}\u0000` }], metadata: { ward } });
    try {
      await database.db.execute(
        sql`alter table completions add constraint refuse_ward_9 check (metadata->>'ward' is distinct from '9')`,
      );
      const log = await CompletionLog.open({ db: database.db, spoolDir, onError: () => {} });
      log.record(row("chatcmpl-refused-1", "9"));
      log.record(row("chatcmpl-stored-1", "3"));
      await log[Symbol.asyncDispose]();

      const listed = await run(["logs", "rejected", "--spool-dir", spoolDir], env);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/chatcmpl-refused-1 .* tiny .* 23514 .*refuse_ward_9/u);
      expect(listed.stdout).not.toContain("ward 9"); // the list shows no conversation
      expect(listed.stderr).toContain("logs rejected --replay");
      const whole = await run(["logs", "rejected", "--json", "--spool-dir", spoolDir], env);
      expect(JSON.parse(whole.stdout).row.messages).toEqual([{ role: "user", content: "ward 9\u0000" }]);

      const refusedAgain = await run(["logs", "rejected", "--replay", "--spool-dir", spoolDir], env);
      expect(JSON.parse(refusedAgain.stdout)).toEqual({ stored: 0, alreadyStored: 0, stillRefused: 1 });
      await database.db.execute(sql`alter table completions drop constraint refuse_ward_9`);
      const replayed = await run(["logs", "rejected", "--replay", "--spool-dir", spoolDir], env);
      expect(replayed.code).toBe(0);
      expect(JSON.parse(replayed.stdout)).toEqual({ stored: 1, alreadyStored: 0, stillRefused: 0 });
      expect((await run(["logs", "rejected", "--spool-dir", spoolDir], env)).stderr).toContain(
        "no refused rows",
      );
      const [stored] = await database.db
        .select()
        .from(completions)
        .where(eq(completions.id, "chatcmpl-refused-1"));
      expect(stored!.messages).toEqual([{ role: "user", content: "ward 9\u0000" }]);
    } finally {
      await database[Symbol.asyncDispose]();
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});
