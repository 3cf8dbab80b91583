// The pictures in docs/: the review queue, the compare view, the admin dashboard and a round's answers page, rendered
// in Chromium by a real
// gateway after a real round on the tiny model. Each page is checked to show what its picture shows before the
// picture is taken, so a page that stops rendering a chart or a table fails here rather than leaving a stale
// picture. docs/images/ gets a new file only when the page changed (test/support/docImages.ts).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import type { RoundRow } from "../../db/schema.ts";
import { medicalQa } from "../../trainer/fixtures.ts";
import { createRoundFor, driveRound } from "../../trainer/RoundRunner.ts";
import { tinyRoundConfig } from "../../trainer/roundPresets.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { writeDocImage } from "../support/docImages.ts";
import { registerTinyChampion, testModels } from "../support/fixtures.ts";
import { sendRoundTraffic } from "../support/roundTraffic.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

const images = join(process.cwd(), "docs", "images");
const questions = medicalQa().map((item) => item.q);

let database: TestDatabase;
let gateway: TestGateway;
let workDir: string;
let round: RoundRow;
let browser: Browser;
let clinicianKey: string;

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  workDir = await mkdtemp(join(tmpdir(), "medgate-doc-screenshots-"));
  gateway = await startGateway(
    { modelPath: testModels().ggufPath, parallel: 4, contextSize: 1024 },
    { databaseUrl: database.url },
  );
  await registerTinyChampion(database.db, "tiny", "docScreenshots.test");
  // The traffic and feedback of test/integration/round.test.ts, whose round passes the gate, then a round with
  // the tuning step on, so that the dashboard has every chart it can draw.
  await sendRoundTraffic(gateway, questions, " Please consult a clinician.");
  // The gate's answer evaluation gets a probe set of questions no traffic asks, with checks. The pictures need a
  // promoted round, so here the checks are measured and decide nothing (checkTolerance 1).
  // At a path that is the same on every run, as the answers page shows it (test-artifacts/ is not committed).
  const probesPath = join("test-artifacts", "doc-screenshots-unseen.jsonl");
  await mkdir("test-artifacts", { recursive: true });
  await writeFile(
    probesPath,
    `${questions
      .slice(56)
      .map((content) => JSON.stringify({ conversation: [{ role: "user", content }] }))
      .join("\n")}\n`,
  );
  const preset = tinyRoundConfig().gate!;
  const created = await createRoundFor(database.db, {
    modelName: "tiny",
    config: tinyRoundConfig({
      heldoutFraction: 0.3,
      minHeldout: 8,
      sft: { enabled: true },
      gate: {
        ...preset,
        answers: {
          probeSets: [
            {
              name: "unseen",
              path: probesPath,
              checks: [
                { kind: "matches", pattern: "consult a clinician", name: "advises a clinician" },
                { kind: "endsWithSentence", name: "ends with a complete sentence" },
              ],
            },
          ],
        },
        policy: { ...preset.policy, answers: { checkTolerance: 1 } },
      },
    }),
    createdBy: "docScreenshots.test",
  });
  round = await driveRound(created.id, { database, workDir });
  // Fresh answers for the review queue, greedy so that the pictures keep their text: one question answered whole
  // and cut short, for the compare view, then two more.
  for (const [question, maxTokens] of [
    [questions[52]!, 64],
    [questions[52]!, 16],
    [questions[50]!, 64],
    [questions[51]!, 64],
  ] as const)
    await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: question }],
      max_tokens: maxTokens,
      temperature: 0,
    });
  await gateway.completionLog.flush();
  clinicianKey = (await createApiKey(database.db, { name: "Dr. Rivera", role: "clinician" })).secret;
  if (chromiumPath) browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function signedIn(area: "review" | "admin", key: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page.setDefaultTimeout(10_000);
  await page.goto(`${gateway.url}/${area}/login`);
  await page.fill("input[name=key]", key);
  await page.click("button[type=submit]");
  await page.waitForURL(`${gateway.url}/${area}`);
  return page;
}

/**
 * Writes docs/images/NAME.png: the element `region`, or the page from its top down to the bottom of `until` (the
 * whole page without it).
 */
async function picture(
  name: string,
  page: Page,
  { region, until }: { region?: Locator; until?: Locator } = {},
): Promise<void> {
  // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is the text the picture shows.
  const text = await (region ?? page.locator("body")).innerText();
  let png: Buffer;
  if (region) png = await region.screenshot({ animations: "disabled" });
  else {
    const box = until ? await until.boundingBox() : null;
    const width = page.viewportSize()!.width;
    png = await page.screenshot({
      animations: "disabled",
      fullPage: true,
      ...(box ? { clip: { x: 0, y: 0, width, height: Math.ceil(box.y + box.height + 12) } } : {}),
    });
  }
  const written = await writeDocImage(join(images, `${name}.png`), png, text);
  console.info(`docs/images/${name}.png ${written ? "written" : "unchanged"}`);
}

describe("the pictures in docs/", () => {
  it("the round behind them finished and was promoted", () => {
    expect(round.error).toBeNull();
    expect(round.state).toBe("promoted");
    expect(round.stats.tuned?.curve.length).toBeGreaterThanOrEqual(3);
  });

  it.skipIf(!chromiumPath)(
    `review-queue.png: stored answers, each with thumbs, a score, a correction and a comment${browserNote}`,
    async () => {
      const page = await signedIn("review", clinicianKey);
      const items = page.locator("article[data-completion-id]");
      expect(await items.count()).toBeGreaterThanOrEqual(3);
      const first = items.first();
      expect((await first.locator(".answer").textContent())?.trim()).not.toBe("");
      expect(await first.locator(".role").first().textContent()).toBe("user");
      for (const control of [
        'button[name=rating][value="up"]',
        'button[name=rating][value="down"]',
        'select[name=rating][aria-label="Score from 1 to 5"]',
        "textarea[name=correction]",
        "textarea[name=comment]",
      ])
        expect(await first.locator(control).count(), control).toBe(1);
      await picture("review-queue", page, { until: items.nth(1) });
      await page.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `review-compare.png: two answers to one prompt side by side, and the three choices${browserNote}`,
    async () => {
      const page = await signedIn("review", clinicianKey);
      await page.goto(`${gateway.url}/review/compare`);
      const answers = page.locator(".pair section[data-completion-id]");
      expect(await answers.count()).toBe(2);
      for (const answer of await answers.all())
        expect((await answer.locator(".answer").textContent())?.trim()).not.toBe("");
      expect(await page.locator("button[name=preference]").allTextContents()).toEqual([
        "A is better a",
        "B is better b",
        "Tie t",
      ]);
      await picture("review-compare", page, { until: page.locator("main article") });
      await page.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `admin-dashboard.png, admin-round.png, admin-gate-report.png: versions, the round's curves, the judge, the gate${browserNote}`,
    async () => {
      const page = await signedIn("admin", gateway.apiKey);
      // Model versions: the first champion, retired, and the round's candidate, now champion.
      expect(await page.locator("tr[data-version-id]").count()).toBe(2);
      expect(
        await page.locator(`tr[data-version-id="${round.candidateVersionId}"] .status-champion`).count(),
      ).toBe(1);
      const card = page.locator(`article[data-round-id="${round.id}"]`);
      expect(await card.locator("h2").textContent()).toBe("tiny round 1 · promoted");
      // The judge's agreement with the clinicians, on the card and charted over rounds.
      expect(await card.locator('[data-agreement="used"]').textContent()).toMatch(
        /^Judge vs clinicians on \d+ pairs: accuracy \d\.\d\d \[/u,
      );
      expect(
        await page.locator('svg[aria-label^="Judge accuracy on clinician pairs by round"] circle').count(),
      ).toBe(1);
      // The SFT loss and the three DPO charts, each with its line.
      for (const title of [
        "SFT loss on clinician corrections",
        "DPO loss",
        "Implicit rewards",
        "Reward accuracy",
      ])
        expect(
          await card.locator(`svg.chart[aria-label="${title}"] polyline`).count(),
          title,
        ).toBeGreaterThanOrEqual(1);
      // The gate report: a chart of every benchmark's difference and the pooled one, and their table.
      const gate = card.locator('[data-gate="passed"]');
      const benchmarks = (round.stats.gate as { benchmarks: unknown[] }).benchmarks.length;
      expect(await gate.locator("svg.chart circle").count()).toBeGreaterThanOrEqual(benchmarks + 1);
      expect(await gate.locator("tbody tr").count()).toBe(benchmarks);
      // The audit log: registered, then promoted by the gate.
      const audit = page.locator("table").last().locator("tbody tr");
      const cells = async (row: Locator) => (await row.locator("td").allTextContents()).slice(1);
      expect(await audit.count()).toBe(2);
      expect(await cells(audit.nth(0))).toEqual([
        "promote",
        "tiny v1",
        "tiny v2",
        expect.any(String),
        "passed the benchmark gate",
      ]);
      expect(await cells(audit.nth(1))).toEqual([
        "register",
        "—",
        "tiny v1",
        "docScreenshots.test",
        "first champion",
      ]);
      // The answer evaluation: the win rate and each check's pass rate charted over rounds, summed up on the card.
      const overRounds = page.locator("[data-answers-over-rounds]");
      expect(await overRounds.locator("svg.chart").count()).toBe(3);
      expect(await overRounds.locator("svg.chart circle").count()).toBe(6);
      expect(await card.locator("[data-answers] a").getAttribute("href")).toBe(
        `/admin/rounds/${round.id}/answers?page=1`,
      );
      await picture("admin-dashboard", page, { until: card.locator('svg.chart[aria-label="DPO loss"]') });
      await picture("admin-round", page, { region: card });
      await picture("admin-gate-report", page, { region: gate });
      await page.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `admin-answers.png: the round's probe prompts with both versions' answers side by side${browserNote}`,
    async () => {
      const page = await signedIn("admin", gateway.apiKey);
      await page.goto(`${gateway.url}/admin/rounds/${round.id}/answers?probe_set=unseen`);
      expect(await page.locator("h1").textContent()).toBe("tiny round 1: answers to probe prompts");
      expect(await page.locator("table[data-probe-sets] tbody tr").count()).toBe(2);
      const rows = page.locator("table.answers tbody tr");
      expect(await rows.count()).toBe(questions.length - 56);
      for (const row of (await rows.all()).slice(0, 3)) {
        for (const side of ["champion", "candidate"])
          expect(await row.locator(`td[data-side="${side}"] li[data-check]`).count(), side).toBe(2);
        expect(await row.locator("td[data-verdict]").getAttribute("data-verdict")).toMatch(
          /^(win|tie|loss)$/u,
        );
      }
      await picture("admin-answers", page, { until: rows.nth(2) });
      await page.close();
    },
  );
});
