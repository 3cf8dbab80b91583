// A round's answers page through app.request(), with an injected AdminReader: admin keys only, a 404 page for an
// unknown round, a 400 for a bad page, answers as escaped text, and pages of 25.
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../db/auditTrail.ts";
import type { AnswerEvaluationReport, GateReport } from "../../db/gateReport.ts";
import type { RoundAnswerRow, RoundRow } from "../../db/schema.ts";
import { ApiKeyAuth } from "../auth/ApiKeyAuth.ts";
import { createApp } from "../createApp.ts";
import { stubGatewayDeps } from "../stubGatewayDeps.ts";
import { type AdminReader, emptyAdminReader } from "./adminReader.ts";

const roundId = "0f2c4b8e-1d3a-4c5b-9e7f-2a1b3c4d5e6f";
const report: AnswerEvaluationReport = {
  settings: { samples: 1, temperature: null, maxTokens: 24, seed: 1 },
  judge: "pairwise (local:tiny@v1)",
  probeSets: [
    {
      name: "unseen",
      path: "probes/unseen.jsonl",
      prompts: 30,
      trainedOn: 0,
      meanChars: { candidate: 90, champion: 80 },
      stopped: { candidate: 0.5, champion: 0.4 },
      checks: [
        {
          name: "advises a clinician",
          n: 30,
          championPassed: 3,
          candidatePassed: 27,
          mcnemar: { b: 24, c: 0, pValue: 1e-7 },
          regressed: false,
        },
      ],
      judge: null,
    },
  ],
  overall: null,
  judgeSkipped: "the round's judge was not used",
  passed: true,
};
const round = {
  id: roundId,
  modelName: "tiny",
  number: 3,
  stats: { gate: { answers: report, candidate: { version: 4 }, champion: { version: 3 } } as GateReport },
} as RoundRow;
const rows: RoundAnswerRow[] = Array.from({ length: 30 }, (_, i) => ({
  id: i + 1,
  roundId,
  probeSet: "unseen",
  promptIndex: i,
  source: `probes/unseen.jsonl:${i + 1}`,
  messages: [{ role: "user", content: `Question <b>${i}</b>?` }],
  sample: 0,
  seed: null,
  championText: `<script>alert(${i})</script>`,
  championFinishReason: "length",
  candidateText: `Please see a clinician & rest. ${i}`,
  candidateFinishReason: "stop",
  checks: [{ name: "advises a clinician", champion: false, candidate: true }],
  verdict: null,
  candidateFirst: null,
  candidateSecond: null,
}));
const adminReader: AdminReader = {
  ...emptyAdminReader,
  round: async (id) => (id === roundId ? round : undefined),
  answers: async (_, page) => ({
    rows: rows.slice(page.offset, page.offset + page.limit),
    total: rows.length,
  }),
};
const auth = new ApiKeyAuth({
  lookup: async (secret) =>
    secret === "admin-key"
      ? { keyId: "k1", name: "admin", role: "admin" }
      : secret === "clinician-key"
        ? { keyId: "k2", name: "clinician", role: "clinician" }
        : undefined,
});
const audited: AuditEntry[] = [];
const deps = stubGatewayDeps({
  auth,
  audit: { append: async (entry: AuditEntry) => void audited.push(entry) },
  adminReader,
});
const app = createApp(deps);
const get = (path: string, key = "admin-key") =>
  app.request(path, { headers: { cookie: `medgate_admin=${key}` } });
const answers = `/admin/rounds/${roundId}/answers`;

describe("a round's answers page", () => {
  it("sends keys other than admin ones to the sign-in form", async () => {
    for (const key of ["clinician-key", "mg-unknown"]) {
      const response = await get(answers, key);
      expect(response.status).toBe(302);
      expect(response.headers.get("location")).toBe("/admin/login");
    }
  });

  it("shows 25 answers side by side, as text, with a link to the next page", async () => {
    const response = await get(answers);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html.match(/<tr data-answer-id=/gu)).toHaveLength(25);
    expect(html).toContain("&lt;script&gt;alert(0)&lt;/script&gt;");
    expect(html).toContain("Question &lt;b&gt;0&lt;/b&gt;?");
    expect(html).toContain("Please see a clinician &amp; rest. 0");
    expect(html).not.toContain("<script>");
    expect(html).toContain("unseen #1 · line 1");
    expect(html).toContain("stopped 40% → 50%");
    expect(html).toContain("advises a clinician: 3/30 → 27/30, 24/0, p=1.00e-7");
    expect(html).toContain("Page 1 of 2 · answers 1–25 of 30");
    expect(html).toContain(`href="/admin/rounds/${roundId}/answers?page=2" rel="next"`);
    const second = await (await get(`${answers}?page=2`)).text();
    expect(second.match(/<tr data-answer-id=/gu)).toHaveLength(5);
    expect(second).toContain("Page 2 of 2 · answers 26–30 of 30");
    expect(second).not.toContain('rel="next"');
  });

  it("records each view in the audit trail before answering, and refuses one it cannot record", async () => {
    audited.length = 0;
    await get(`${answers}?page=2`);
    expect(audited).toEqual([
      expect.objectContaining({
        actorKind: "key",
        actorName: "admin",
        role: "admin",
        action: "GET /admin/rounds/{roundId}/answers",
        query: { round_id: roundId, page: 2, found: true },
      }),
    ]);
    const failing = createApp({
      ...deps,
      audit: {
        append: async () => {
          throw new Error("database away");
        },
      },
    });
    const refused = await failing.request(answers, { headers: { cookie: "medgate_admin=admin-key" } });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      error: { type: "service_unavailable", code: "audit_unavailable" },
    });
  });

  it("is a 404 page for an unknown round, and a 400 for a page that is not a positive integer", async () => {
    for (const id of ["0f2c4b8e-1d3a-4c5b-9e7f-000000000000", "tiny%231", "%3Cb%3Ex%3C%2Fb%3E"]) {
      const response = await get(`/admin/rounds/${id}/answers`);
      expect(response.status, id).toBe(404);
      expect(response.headers.get("content-type")).toMatch(/^text\/html/u);
      const html = await response.text();
      expect(html).toContain("There is no round");
      expect(html).not.toContain("<b>x</b>");
    }
    for (const page of ["0", "-1", "1.5", "x"]) {
      const response = await get(`${answers}?page=${page}`);
      expect(response.status, page).toBe(400);
      expect(await response.json()).toMatchObject({ error: { param: "page" } });
    }
  });
});
