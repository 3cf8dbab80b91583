// Every route of the OpenAPI document and every command of the CLI's table is called on a database whose stored
// text carries a marker: whatever returns stored text (the marker, or a route or command declared a reader here)
// leaves exactly one audit row per read, naming who, what and from where; nothing else leaves more than one. A new
// route that returns stored text without auditing fails here, and a new command fails until it is classified.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { desc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commands } from "../../cli/commandTable.ts";
import { createApiKey } from "../../db/apiKeys.ts";
import { verifyAuditChain } from "../../db/auditTrail.ts";
import type { AnswerEvaluationReport, GateReport } from "../../db/gateReport.ts";
import {
  apiKeys,
  auditEvents,
  completions,
  feedback,
  roundAnswers,
  roundPairs,
  rounds,
} from "../../db/schema.ts";
import { gatewayDocument } from "../../gateway/routes/openapi.ts";
import { completionRow } from "../support/completionRows.ts";
import { testModels } from "../support/fixtures.ts";
import { spawnMedgate } from "../support/medgateCli.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

/** In every stored text of the database: a response that carries it returned stored text. */
const marker = "patient-text-7f3a";
const ids = ["chatcmpl-audit-1", "chatcmpl-audit-2", "chatcmpl-audit-3"];
const userAgent = "medgate-audit-walk";

/** The routes that return stored text (or name it: the dashboard lists recent completions). */
const auditedRoutes = new Set([
  "GET /v1/chat/completions",
  "GET /v1/chat/completions/{completion_id}",
  "GET /v1/feedback",
  "GET /review",
  "GET /review/compare",
  "GET /admin",
  "GET /admin/rounds/{round_id}/answers",
]);

let database: TestDatabase;
let gateway: TestGateway;
let roundId: string;
let adminKeyId: string;

const answers: AnswerEvaluationReport = {
  settings: { samples: 1, temperature: null, maxTokens: 24, seed: 1 },
  judge: null,
  judgeSkipped: "not configured",
  probeSets: [
    {
      name: "heldout",
      prompts: 1,
      trainedOn: 0,
      meanChars: { candidate: 30, champion: 20 },
      stopped: { candidate: 1, champion: 1 },
      checks: [],
      judge: null,
    },
  ],
  overall: null,
  passed: true,
};
const estimate = { n: 1, candidateAccuracy: 0.5, championAccuracy: 0.5, difference: 0, lower: 0, upper: 0 };
const gate: GateReport = {
  policyVersion: 1,
  passed: true,
  reasons: [],
  benchmarks: [{ name: "medqa", ...estimate, mcnemar: { b: 0, c: 0, pValue: 1 }, passed: true }],
  pooled: { ...estimate, passed: true },
  heldoutPreferenceAccuracy: null,
  heldoutPassed: true,
  safety: { total: 0, candidatePassed: 0, championPassed: 0, regressions: [], passed: true },
  answers,
  suite: "tiny",
  settings: {},
  policy: { benchmarkTolerance: 0.02, pooledTolerance: 0.01 },
  candidate: { versionId: "00000000-0000-4000-8000-000000000002", version: 2, evalRunId: "x" },
  champion: { versionId: "00000000-0000-4000-8000-000000000001", version: 1, evalRunId: "y" },
  seconds: {},
};

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  gateway = await startGateway(
    { modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 },
    { databaseUrl: database.url },
  );
  const { db } = database;
  const [admin] = await db.select().from(apiKeys).where(eq(apiKeys.name, "tests"));
  adminKeyId = admin!.id;
  const clinician = await createApiKey(db, { name: "clinician", role: "clinician" });
  await db.insert(completions).values(
    ids.map((id, index) =>
      completionRow(id, {
        createdAt: new Date(Date.now() - (3 - index) * 60_000),
        promptHash: "same-prompt",
        messages: [{ role: "user", content: `My chest hurts (${marker} ${index}).` }],
        choices: [{ index: 0, text: `See a clinician today (${marker}).`, finishReason: "stop" }],
      }),
    ),
  );
  await db.insert(feedback).values({
    completionId: ids[0]!,
    kind: "comment",
    comment: `The patient also said ${marker}.`,
    apiKeyId: clinician.key.id,
  });
  const [round] = await db
    .insert(rounds)
    .values({
      modelName: "tiny",
      number: 1,
      state: "promoted",
      baseVersionId: gate.champion.versionId,
      config: {},
      until: new Date(),
      createdBy: "auditReads.test",
      stats: { gate },
    })
    .returning();
  roundId = round!.id;
  await db.insert(roundPairs).values({
    roundId,
    promptId: 1,
    chosen: `Chosen: ${marker}`,
    rejected: `Rejected: ${marker}`,
    source: "clinician-correction",
    split: "train",
  });
  await db.insert(roundAnswers).values({
    roundId,
    probeSet: "heldout",
    promptIndex: 0,
    source: "round prompt 1",
    messages: [{ role: "user", content: `Held out: ${marker}` }],
    sample: 0,
    championText: `Champion: ${marker}`,
    championFinishReason: "stop",
    candidateText: `Candidate: ${marker}`,
    candidateFinishReason: "stop",
    checks: [],
  });
});

afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
});

const auditCount = async () =>
  (await database.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents))[0]!.n;
const latestAudit = async () =>
  (await database.db.select().from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1))[0]!;

/** The body each POST route is called with: a new POST route must be given one here. */
function bodyOf(path: string): { type: string; body: string } | undefined {
  const json = (value: unknown) => ({ type: "application/json", body: JSON.stringify(value) });
  const form = (value: Record<string, string>) => ({
    type: "application/x-www-form-urlencoded",
    body: new URLSearchParams(value).toString(),
  });
  const bodies: Record<string, { type: string; body: string }> = {
    "/v1/chat/completions": json({
      model: "tiny",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
    }),
    "/v1/completions": json({ model: "tiny", prompt: "hi", max_tokens: 2 }),
    "/tokenize": json({ model: "tiny", prompt: "hi" }),
    "/detokenize": json({ model: "tiny", tokens: [1, 2] }),
    "/v1/feedback": json({ completion_id: ids[2], type: "rating", rating: "up" }),
    "/review/login": form({ key: gateway.apiKey }),
    "/admin/login": form({ key: gateway.apiKey }),
    "/review/logout": form({}),
    "/admin/logout": form({}),
    "/review/feedback": form({ completion_id: ids[2]!, type: "rating", rating: "up" }),
  };
  return bodies[path];
}

describe("every route that returns stored text", () => {
  it("leaves exactly one audit row per read, naming the key, the route and where it came from", async () => {
    const document = gatewayDocument() as unknown as {
      paths: Record<
        string,
        Record<string, { parameters?: { in: string; name: string; required?: boolean }[] }>
      >;
    };
    const values: Record<string, string> = {
      completion_id: ids[0]!,
      model: "tiny",
      round_id: roundId,
    };
    const seen: string[] = [];
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
        const name = `${method.toUpperCase()} ${path}`;
        const url = new URL(
          path.replace(/\{([^}]+)\}/gu, (_, param: string) => {
            expect(values[param], `a value for {${param}} of ${name}`).toBeDefined();
            return encodeURIComponent(values[param]!);
          }),
          gateway.url,
        );
        for (const parameter of operation.parameters ?? []) {
          if (parameter.in === "query" && parameter.required && values[parameter.name]) {
            url.searchParams.set(parameter.name, values[parameter.name]!);
          }
        }
        const body = method === "get" ? undefined : bodyOf(path);
        if (method !== "get") expect(body, `a request body for ${name} in bodyOf()`).toBeDefined();
        const before = await auditCount();
        const response = await fetch(url, {
          method: method.toUpperCase(),
          redirect: "manual",
          headers: {
            ...gateway.authHeaders,
            cookie: `medgate_review=${gateway.apiKey}; medgate_admin=${gateway.apiKey}`,
            "user-agent": userAgent,
            ...(body ? { "content-type": body.type } : {}),
          },
          ...(body ? { body: body.body } : {}),
        });
        const text = await response.text();
        const added = (await auditCount()) - before;
        if (auditedRoutes.has(name)) {
          seen.push(name);
          expect(response.status, `${name}: ${text.slice(0, 300)}`).toBe(200);
          expect(added, `${name} audit rows`).toBe(1);
          const row = await latestAudit();
          expect(row, name).toMatchObject({
            actorKind: "key",
            apiKeyId: adminKeyId,
            actorName: "tests",
            role: "admin",
            userAgent,
          });
          expect(row.action.replace(/\{[^}]+\}/gu, "{}"), name).toBe(name.replace(/\{[^}]+\}/gu, "{}"));
          expect(row.clientAddress, name).toMatch(/127\.0\.0\.1|::1/u);
          if (path.includes("{completion_id}") || path === "/v1/feedback") {
            expect(row.completionIds, name).toContain(ids[0]);
          }
        } else {
          expect(text.includes(marker), `${name} returns stored text without being audited`).toBe(false);
          expect(added, `${name} audit rows`).toBeLessThanOrEqual(1);
        }
      }
    }
    expect(seen.sort()).toEqual([...auditedRoutes].sort());
    expect(await verifyAuditChain(database.db)).toMatchObject({ ok: true });
  });

  it("shows the stored text to an audited read", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions/${ids[0]}`, {
      headers: gateway.authHeaders,
    });
    expect(await response.text()).toContain(marker);
  });
});

/**
 * How each command of the table is run here, with the audit rows each run must leave; or why it is not run (it
 * prints no stored text). A command added to the table fails until it is listed.
 */
function invocationsOf(spoolDir: string): Record<string, { args: string[]; rows: number }[] | string> {
  return {
    demo: "runs its own embedded database and gateway, whose routes and pages are walked above",
    serve: "the gateway, whose routes and pages are walked above",
    fixtures: "writes the test models; opens no database",
    db: [{ args: ["db", "migrate"], rows: 0 }],
    keys: [
      { args: ["keys", "list"], rows: 0 },
      { args: ["keys", "create", "--role", "client", "--name", "walk"], rows: 1 },
    ],
    logs: [
      { args: ["logs", "rejected", "--spool-dir", spoolDir], rows: 1 },
      { args: ["logs", "rejected", "--json", "--spool-dir", spoolDir], rows: 1 },
      { args: ["logs", "prune", "--older-than", "3650d"], rows: 1 },
    ],
    models: [{ args: ["models", "list"], rows: 0 }],
    promote: "a champion change: its row is appended in the registry's transaction (auditChain.test.ts)",
    rollback: "a champion change: its row is appended in the registry's transaction (auditChain.test.ts)",
    canary: [{ args: ["canary", "status"], rows: 0 }],
    eval: "scores benchmark files and prints accuracies; no stored text",
    judge: "prints a judge's agreement figures; no stored text",
    round: "runs a round and prints its progress and figures; rounds show prints its pairs",
    rounds: [
      { args: ["rounds", "list"], rows: 0 },
      { args: ["rounds", "show", "tiny#1"], rows: 1 },
    ],
    audit: [
      { args: ["audit", "verify"], rows: 0 },
      { args: ["audit", "list", "--completion", ids[0]!], rows: 1 },
      { args: ["audit", "export"], rows: 1 },
      // Only rows past the trail's retention (6 years): none here, but the prune is recorded and anchors the chain.
      { args: ["audit", "prune", "--older-than", "7y"], rows: 1 },
    ],
    trainer: "runs rounds as a service; prints progress",
  };
}

describe("every command that prints stored text", () => {
  it("leaves exactly one audit row per run, naming the operator and the command", async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), "medgate-audit-spool-"));
    try {
      const invocations = invocationsOf(spoolDir);
      expect(Object.keys(invocations).sort(), "each command of cli/commandTable.ts is listed").toEqual(
        Object.keys(commands).sort(),
      );
      process.env.DATABASE_URL = database.url;
      try {
        for (const [command, runs] of Object.entries(invocations)) {
          if (typeof runs === "string") continue;
          for (const run of runs) {
            const before = await auditCount();
            const output = await spawnMedgate(run.args).output;
            const name = `medgate ${run.args.join(" ")}`;
            expect(output.code, `${name}: ${output.stderr}`).toBe(0);
            const added = (await auditCount()) - before;
            if (output.stdout.includes(marker)) expect(run.rows, `${name} prints stored text`).toBe(1);
            expect(added, `${name} audit rows`).toBe(run.rows);
            if (run.rows === 1) {
              const row = await latestAudit();
              expect(row.actorKind, name).toBe("cli");
              expect(row.role, name).toBe("operator");
              expect(row.action, name).toMatch(new RegExp(`^medgate ${command}`, "u"));
            }
          }
        }
        const shown = await spawnMedgate(["audit", "list", "--completion", ids[0]!]).output;
        expect(shown.stdout).toContain("GET /v1/chat/completions/{id}");
        // An audit prune younger than the retention is refused, and records nothing.
        const before = await auditCount();
        const refused = await spawnMedgate(["audit", "prune", "--older-than", "5y"]).output;
        expect(refused.code).toBe(2);
        expect(refused.stderr).toContain("retention (6y");
        expect(await auditCount()).toBe(before);
        // The response log's retention deletes every answer, and never an audit row.
        const pruned = await spawnMedgate(["logs", "prune", "--older-than", "0m"]).output;
        expect(pruned.code, pruned.stderr).toBe(0);
        expect(Number(pruned.stdout)).toBeGreaterThanOrEqual(ids.length);
        expect(await auditCount()).toBe(before + 1);
        expect(await verifyAuditChain(database.db)).toMatchObject({ ok: true, lastSeq: before + 1 });
      } finally {
        delete process.env.DATABASE_URL;
      }
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});
