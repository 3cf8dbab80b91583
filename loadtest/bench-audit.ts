// npm run bench:audit — the audit trail's cost, in one run: the admin log API's requests/s (GET
// /v1/chat/completions/{id} and GET /v1/chat/completions?limit=20) on PostgreSQL, through a gateway that appends
// one hash-chained audit row per read (committed before the answer) against the same gateway with the trail off,
// at concurrency 1, 8 and 32, in alternating rounds; then how long `medgate audit verify` takes per row.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { createApiKey } from "../db/apiKeys.ts";
import { countAuditEvents, verifyAuditChain } from "../db/auditTrail.ts";
import { completions, type NewCompletionRow } from "../db/schema.ts";
import { type AuditTrail, unauditedTrail } from "../gateway/audit/AuditTrail.ts";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { noCompletionLog } from "../gateway/log/completionRecord.ts";
import { ServedModels } from "../gateway/models/ServedModels.ts";
import { databaseGatewayDeps } from "../gateway/openGateway.ts";
import { scratchDatabase } from "./bench-parts/scratchDatabase.ts";
import { median } from "./benchParts.ts";

const { values } = parseArgs({
  options: {
    postgres: { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    rows: { type: "string", default: "2000" },
    requests: { type: "string", default: "400" },
    rounds: { type: "string", default: "3" },
  },
});

// A scratch database on the PostgreSQL server, dropped at the end.
const scratch = await scratchDatabase(values.postgres, "medgate_bench_audit");
const { database } = scratch;

try {
  const rowCount = Number(values.rows);
  const answer =
    "Fever is a body temperature of 38 °C or more. Drink fluids, rest, and see a clinician if it lasts.";
  const row = (index: number): NewCompletionRow => ({
    id: `chatcmpl-bench-${index}-${randomBytes(6).toString("hex")}`,
    createdAt: new Date(Date.now() - (rowCount - index) * 1000),
    request: { temperature: 0.7, max_tokens: 64 },
    messages: [{ role: "user", content: `Question ${index}: what should I do about a fever?` }],
    choices: [{ index: 0, text: answer, finishReason: "stop" }],
    stored: true,
    status: "stop",
    promptHash: randomBytes(32).toString("hex"),
    promptTokens: 30,
    completionTokens: 40,
    latencyMs: 500,
    timeToFirstTokenMs: 20,
    modelName: "bench",
    traceId: "bench",
  });
  const rows = Array.from({ length: rowCount }, (_, index) => row(index));
  for (let start = 0; start < rows.length; start += 500) {
    await database.db.insert(completions).values(rows.slice(start, start + 500));
  }
  const { secret } = await createApiKey(database.db, { name: "bench admin", role: "admin" });

  type Side = "audited" | "unaudited";
  const gateways = {} as Record<Side, GatewayServer>;
  const trails: Partial<Record<Side, AuditTrail>> = { unaudited: unauditedTrail };
  for (const side of ["audited", "unaudited"] as const) {
    const models = new ServedModels();
    const deps = databaseGatewayDeps(database.db, {
      models,
      completionLog: noCompletionLog,
      ...(trails[side] ? { audit: trails[side] } : {}),
    });
    gateways[side] = await GatewayServer.listen(createApp(deps), models, { port: 0 });
  }

  /** Requests/s of `requests` log reads at `concurrency`: by id and a page of 20, alternately. */
  const load = async (side: Side, concurrency: number, requests: number) => {
    let next = 0;
    let failures = 0;
    const headers = { authorization: `Bearer ${secret}` };
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let index = next++; index < requests; index = next++) {
          const path =
            index % 2 === 0
              ? `/v1/chat/completions/${rows[(index * 7919) % rowCount]!.id}`
              : "/v1/chat/completions?limit=20&order=desc";
          const response = await fetch(`${gateways[side].url}${path}`, { headers });
          await response.arrayBuffer();
          if (response.status !== 200) failures++;
        }
      }),
    );
    return { perSecond: requests / ((performance.now() - started) / 1000), failures };
  };

  const requests = Number(values.requests);
  const rounds = Number(values.rounds);
  await load("unaudited", 8, 200); // warm-up of both sides' connections
  await load("audited", 8, 200);
  console.log(
    `admin log API on PostgreSQL, ${requests} reads a round (by id and pages of 20, alternately), median of ${rounds} alternating rounds`,
  );
  console.log("\n| concurrency | trail off req/s | audited req/s | audited / off | rounds (off; audited) |");
  console.log("| --- | --- | --- | --- | --- |");
  let failures = 0;
  for (const concurrency of [1, 8, 32]) {
    const measured: Record<Side, number[]> = { audited: [], unaudited: [] };
    for (let round = 0; round < rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ["audited", "unaudited"] : ["unaudited", "audited"];
      for (const side of order) {
        const result = await load(side, concurrency, requests);
        failures += result.failures;
        measured[side].push(result.perSecond);
      }
    }
    const [off, audited] = [median(measured.unaudited), median(measured.audited)];
    console.log(
      `| ${concurrency} | ${off.toFixed(0)} | ${audited.toFixed(0)} | ${(audited / off).toFixed(3)}× | ${measured.unaudited.map((v) => v.toFixed(0)).join(", ")}; ${measured.audited.map((v) => v.toFixed(0)).join(", ")} |`,
    );
  }
  const auditRows = await countAuditEvents(database.db);
  const verifyStarted = performance.now();
  const verified = await verifyAuditChain(database.db);
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  console.log(
    `\naudit rows: ${auditRows}; verify: ${verified.ok ? "ok" : `broken at ${verified.fault?.seq}`} in ${verifySeconds.toFixed(2)} s (${((verifySeconds / Math.max(1, auditRows)) * 1e6).toFixed(1)} µs a row); failed requests: ${failures}`,
  );
  for (const gateway of Object.values(gateways)) await gateway[Symbol.asyncDispose]().catch(() => {});
} finally {
  await scratch[Symbol.asyncDispose]();
}
