// The gate's answer evaluation on the admin dashboard, in Chromium, from a real gateway after a real round on the
// tiny model with a probe set and checks: the win rate and pass rate charts over rounds, and the round's answers
// page (both versions' answers side by side, checks and verdicts, paged), its text escaped, admin keys only.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { roundAnswersOf } from "../../db/roundAnswers.ts";
import { type RoundAnswerRow, type RoundRow, roundAnswers } from "../../db/schema.ts";
import { tick } from "../../gateway/pages/svgCharts.tsx";
import type { AnswerCheckInput } from "../../trainer/eval/answerChecks.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { registerTinyChampion, testModels } from "../support/fixtures.ts";
import { sendRoundTraffic } from "../support/roundTraffic.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const questions = medicalQa().map((item) => item.q);
/** A probe prompt whose text is HTML: it must show as text. */
const htmlPrompt =
  'Is <script>window.__xss = 1</script> a <b>symptom</b>? <img src=x onerror="window.__xss = 2">';
/** Answers stored as a model could write them, HTML included (the tiny model does not): shown as text too. */
const htmlAnswers = {
  champion: "<script>window.__xss = 3</script><b>bold?</b>",
  candidate: '<img src=x onerror="window.__xss = 4"> &amp; <i>done</i>',
};
const probeChecks: AnswerCheckInput[] = [
  { kind: "matches", pattern: "consult a clinician", name: "advises a clinician" },
  { kind: "maxWords", words: 40 },
];

let database: TestDatabase;
let gateway: TestGateway;
let workDir: string;
let round: RoundRow;
let rows: RoundAnswerRow[];
let browser: Browser;
let clinicianKey: string;

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-admin-answers-"));
  gateway = await startGateway(
    { modelPath: testModels().ggufPath, parallel: 4, contextSize: 1024 },
    { databaseUrl: database.url },
  );
  await registerTinyChampion(database.db, "tiny", "adminAnswers.test");
  // The traffic of test/integration/round.test.ts, whose judge meets its agreement and so judges the answers.
  await sendRoundTraffic(gateway, questions, " Please consult a clinician.");
  const probesPath = join(workDir, "unseen.jsonl");
  const probes = [...questions.slice(49, 69), htmlPrompt];
  await writeFile(
    probesPath,
    `${probes.map((content) => JSON.stringify({ conversation: [{ role: "user", content }] })).join("\n")}\n`,
  );
  const created = await createRoundFor(database.db, {
    modelName: "tiny",
    config: tinyRoundConfig({
      heldoutFraction: 0.3,
      minHeldout: 8,
      gate: { answers: { probeSets: [{ name: "unseen", path: probesPath, checks: probeChecks }] } },
    }),
    createdBy: "adminAnswers.test",
  });
  round = await driveRound(created.id, { database, workDir: join(workDir, "rounds") });
  // One more stored pair of answers, written here, whose texts are HTML.
  const [first] = await roundAnswersOf(database.db, round.id);
  await database.db.insert(roundAnswers).values({
    ...first!,
    id: undefined,
    probeSet: "unseen",
    promptIndex: 999,
    source: "adminAnswers.test",
    messages: [{ role: "user", content: "Which tags do you know?" }],
    championText: htmlAnswers.champion,
    candidateText: htmlAnswers.candidate,
    checks: [
      { name: "advises a clinician", champion: false, candidate: false },
      { name: "at most 40 words", champion: true, candidate: true },
    ],
    verdict: "loss",
    candidateFirst: 0.25,
    candidateSecond: 0.375,
  });
  rows = await roundAnswersOf(database.db, round.id);
  clinicianKey = (await createApiKey(database.db, { name: "Dr. Rivera", role: "clinician" })).secret;
  if (chromiumPath) browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const answersPath = () => `/admin/rounds/${round.id}/answers`;

async function signedIn(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  await page.goto(`${gateway.url}/admin/login`);
  await page.fill("input[name=key]", gateway.apiKey);
  await page.click("button[type=submit]");
  await page.waitForURL(`${gateway.url}/admin`);
  return page;
}

describe("the answer evaluation on the admin dashboard", () => {
  it("comes from a finished round whose answers were checked and judged", () => {
    expect(round.error).toBeNull();
    const answers = round.stats.gate?.answers;
    expect(answers?.probeSets.map((set) => set.name)).toEqual(["heldout", "unseen"]);
    expect(answers?.overall).not.toBeNull();
    // The round's answers, the pair written here, and more than one page of them.
    expect(rows.length).toBeGreaterThan(25);
    expect(rows.filter((row) => row.probeSet === "unseen")).toHaveLength(22);
  });

  it("is for admin keys only, and an unknown round or a bad page is refused", async () => {
    const anonymous = await fetch(`${gateway.url}${answersPath()}`, { redirect: "manual" });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("location")).toBe("/admin/login");
    const clinician = await fetch(`${gateway.url}${answersPath()}`, {
      headers: { cookie: `medgate_admin=${clinicianKey}` },
      redirect: "manual",
    });
    expect(clinician.status).toBe(302);
    expect(clinician.headers.get("location")).toBe("/admin/login");
    const admin = { headers: { cookie: `medgate_admin=${gateway.apiKey}` }, redirect: "manual" } as const;
    expect((await fetch(`${gateway.url}${answersPath()}`, admin)).status).toBe(200);
    for (const id of ["00000000-0000-4000-8000-000000000000", "tiny%231", "%3Cscript%3E"]) {
      const unknown = await fetch(`${gateway.url}/admin/rounds/${id}/answers`, admin);
      expect(unknown.status, id).toBe(404);
      expect(unknown.headers.get("content-type")).toMatch(/^text\/html/u);
      const html = await unknown.text();
      expect(html).toContain("<h1>Not found</h1>");
      expect(html).toContain("There is no round");
      expect(html).not.toContain("<script>");
    }
    const badPage = await fetch(`${gateway.url}${answersPath()}?page=0`, admin);
    expect(badPage.status).toBe(400);
    expect(await badPage.json()).toMatchObject({ error: { type: "invalid_request_error", param: "page" } });
  });

  it.skipIf(!chromiumPath)(
    `charts the win rate and each check's pass rate by round${browserNote}`,
    async () => {
      const page = await signedIn();
      const answers = round.stats.gate!.answers!;
      const charts = page.locator("[data-answers-over-rounds]");
      // The win rate with its interval (a dot and a bar) and the length-controlled win rate (a dot), at 0.5 a line.
      const winRate = charts.locator('svg[aria-label^="Candidate\'s answer win rate by round"]');
      expect(await winRate.locator("circle").count()).toBe(2);
      expect(await winRate.locator("circle title").allTextContents()).toEqual([
        `win rate, round 1: ${tick(answers.overall!.winRate)} [${tick(answers.overall!.lower)}, ${tick(answers.overall!.upper)}]`,
        `length-controlled, round 1: ${tick(answers.overall!.lengthControlledWinRate)}`,
      ]);
      expect(await winRate.locator("line.reference").count()).toBe(1);
      // One chart per probe set and check: the champion's and the candidate's pass rates.
      const checks = answers.probeSets.flatMap((set) => set.checks.map((check) => ({ set, check })));
      expect(checks.map(({ check }) => check.name)).toEqual(["advises a clinician", "at most 40 words"]);
      for (const { set, check } of checks) {
        const chart = charts.locator(`svg[aria-label="Pass rate by round: ${set.name} · ${check.name}"]`);
        expect(await chart.locator("circle title").allTextContents()).toEqual([
          `champion, round 1: ${tick(check.championPassed / check.n)}`,
          `candidate, round 1: ${tick(check.candidatePassed / check.n)}`,
        ]);
      }
      // The round's card sums the evaluation up and links to its answers.
      const summary = page.locator(`article[data-round-id="${round.id}"] [data-answers]`);
      expect(await summary.textContent()).toMatch(
        /^Answers (passed|failed) · \d+ probe prompts in heldout, unseen · win rate against the champion \d\.\d\d \[/u,
      );
      await mkdir("test-artifacts", { recursive: true });
      await page.screenshot({ path: "test-artifacts/admin-answer-charts.png", fullPage: true });
      await summary.locator("a").click();
      await page.waitForURL(`${gateway.url}${answersPath()}?page=1`);
      expect(await page.locator("h1").textContent()).toBe("tiny round 1: answers to probe prompts");
      await page.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `charts pooled accuracy, answer length and the judge's margins by round${browserNote}`,
    async () => {
      const page = await signedIn();
      const { gate, judged } = round.stats;
      const curves = page.locator("[data-round-curves]");
      const titles = (label: string) =>
        curves.locator(`svg[aria-label^="${label}"] circle title`).allTextContents();
      expect(await titles("Pooled benchmark accuracy by round")).toEqual([
        `champion, round 1: ${tick(gate!.pooled.championAccuracy)}`,
        `candidate, round 1: ${tick(gate!.pooled.candidateAccuracy)}`,
      ]);
      // Over both probe sets, weighted by their prompts.
      const sets = gate!.answers!.probeSets;
      const prompts = sets.reduce((sum, set) => sum + set.prompts, 0);
      const meanChars = (version: "champion" | "candidate") =>
        sets.reduce((sum, set) => sum + set.meanChars[version] * set.prompts, 0) / prompts;
      expect(await titles("Mean answer length on the probe prompts")).toEqual([
        `champion, round 1: ${tick(meanChars("champion"))}`,
        `candidate, round 1: ${tick(meanChars("candidate"))}`,
      ]);
      // The judge decided pairs in this round: the median of their margins, with the quartiles as its bar.
      const margins = judged!.margins!;
      expect(margins.n).toBeGreaterThan(0);
      expect(margins.p25).toBeLessThanOrEqual(margins.p50);
      expect(margins.p50).toBeLessThanOrEqual(margins.p75);
      expect(await titles("Judge's chosen − rejected margin by round")).toEqual([
        `judge margin, round 1: ${tick(margins.p50)} [${tick(margins.p25)}, ${tick(margins.p75)}]`,
      ]);
      await page.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `shows the answers side by side with checks and verdicts, a page at a time, HTML as text${browserNote}`,
    async () => {
      const page = await signedIn();
      await page.goto(`${gateway.url}${answersPath()}`);
      const probeSets = page.locator("table[data-probe-sets] tbody tr");
      expect(await probeSets.count()).toBe(2);
      expect(await probeSets.nth(1).locator("td").first().textContent()).toContain("unseen");
      const seen: RoundAnswerRow[] = [];
      for (let pageNumber = 1; ; pageNumber++) {
        const table = page.locator("table.answers tbody tr");
        const expected = rows.slice((pageNumber - 1) * 25, pageNumber * 25);
        expect(await table.count(), `page ${pageNumber}`).toBe(expected.length);
        for (const [i, row] of expected.entries()) {
          const tr = table.nth(i);
          expect(await tr.getAttribute("data-answer-id")).toBe(String(row.id));
          const prompt = tr.locator("td").first();
          expect(await prompt.locator(".text").last().textContent()).toBe(row.messages.at(-1)!.content);
          for (const side of ["champion", "candidate"] as const) {
            const cell = tr.locator(`td[data-side="${side}"]`);
            expect(await cell.locator(".answer").textContent()).toBe(
              side === "champion" ? row.championText : row.candidateText,
            );
            expect(
              await cell
                .locator("li[data-check]")
                .evaluateAll((items) =>
                  items.map((item) => [item.getAttribute("data-check"), item.getAttribute("data-passed")]),
                ),
            ).toEqual(row.checks.map((check) => [check.name, String(check[side])]));
          }
          const verdict = tr.locator("td[data-verdict]");
          expect(await verdict.getAttribute("data-verdict")).toBe(row.verdict ?? "none");
          if (row.verdict !== null && row.championText !== row.candidateText)
            expect(await verdict.textContent()).toContain(
              `shown first ${row.candidateFirst!.toFixed(2)}, shown second ${row.candidateSecond!.toFixed(2)}`,
            );
          seen.push(row);
        }
        const next = page.locator('.pager a[rel="next"]').first();
        if ((await next.count()) === 0) break;
        await next.click();
        await page.waitForURL(`${gateway.url}${answersPath()}?page=${pageNumber + 1}`);
      }
      expect(seen).toHaveLength(rows.length);
      await page.screenshot({ path: "test-artifacts/admin-answers-last-page.png", fullPage: true });
      // HTML in a prompt and in answers is text: no element made of it, no script run.
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator("table.answers tbody :is(script, b, i, img)").count()).toBe(0);
      const written = page.locator("table.answers tbody tr").last();
      expect(await written.locator('td[data-side="champion"] .answer').textContent()).toBe(
        htmlAnswers.champion,
      );
      expect(await written.locator('td[data-side="candidate"] .answer').textContent()).toBe(
        htmlAnswers.candidate,
      );
      expect(await written.locator("td[data-verdict]").textContent()).toContain("champion better");
      // One probe set's answers alone; the HTML prompt among them.
      await page.goto(`${gateway.url}${answersPath()}?probe_set=unseen`);
      const unseen = page.locator('table.answers tbody tr[data-probe-set="unseen"]');
      expect(await unseen.count()).toBe(22);
      expect(await page.locator("table.answers tbody tr").count()).toBe(22);
      expect(await unseen.nth(20).locator("td").first().locator(".text").textContent()).toBe(htmlPrompt);
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
      await page.close();
    },
  );
});
