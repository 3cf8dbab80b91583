// The clinician review pages in a real browser: sign in with a key, rate the queue, compare a pair, no XSS.
import { mkdir } from "node:fs/promises";
import { eq } from "drizzle-orm";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { completions, feedback } from "../../db/schema.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const xssAnswer = "<script>window.__xss = 1</script><b>bold?</b>";

let gateway: TestGateway;
let browser: Browser;
let clinician: { id: string; secret: string };
let clientSecret: string;
let pairIds: string[];

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 });
  const made = await createApiKey(gateway.database.db, { name: "Dr. Rivera", role: "clinician" });
  clinician = { id: made.key.id, secret: made.secret };
  clientSecret = (await createApiKey(gateway.database.db, { name: "ward app", role: "client" })).secret;
  const answer = async (content: string) =>
    (
      await gateway.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content }],
        max_tokens: 8,
      })
    ).id;
  pairIds = [await answer("What is a fever?"), await answer("What is a fever?")];
  await answer("How is asthma treated?");
  await gateway.completionLog.flush();
  await gateway.database.db.insert(completions).values({
    id: "chatcmpl-xss-probe",
    createdAt: new Date(),
    request: {},
    messages: [{ role: "user", content: "Is <i>this</i> escaped?" }],
    choices: [{ index: 0, text: xssAnswer, finishReason: "stop" }],
    stored: true,
    status: "stop",
    promptHash: "xss-probe",
    promptTokens: 1,
    completionTokens: 1,
    latencyMs: 1,
    modelName: "tiny",
    traceId: "xss-probe",
  });
  if (chromiumPath) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await gateway?.[Symbol.asyncDispose]();
});

const signIn = (key: string) =>
  fetch(`${gateway.url}/review/login`, {
    method: "POST",
    body: new URLSearchParams({ key }),
    redirect: "manual",
  });

describe("/review", () => {
  it("sends strangers to the sign-in form and admits only clinician and admin keys", async () => {
    const anonymous = await fetch(`${gateway.url}/review`, { redirect: "manual" });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("location")).toBe("/review/login");
    const wrong = await signIn("mg-not-a-key");
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("That key is not valid.");
    const client = await signIn(clientSecret);
    expect(client.status).toBe(403);
    expect(client.headers.get("set-cookie")).toBeNull();
    const withClientCookie = await fetch(`${gateway.url}/review`, {
      headers: { cookie: `medgate_review=${clientSecret}` },
      redirect: "manual",
    });
    expect(withClientCookie.headers.get("location")).toBe("/review/login");
    const admitted = await signIn(clinician.secret);
    expect(admitted.status).toBe(303);
    expect(admitted.headers.get("set-cookie")).toMatch(/HttpOnly/iu);
    expect(admitted.headers.get("set-cookie")).toMatch(/SameSite=Strict/iu);
    expect(admitted.headers.get("set-cookie")).toMatch(/Path=\/review/iu);
  });

  it.skipIf(!chromiumPath)(
    `lets a clinician rate the queue and compare a pair in the browser, rendering answers as text${browserNote}`,
    async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      page.setDefaultTimeout(5_000);
      const response = await page.goto(`${gateway.url}/review`);
      expect(page.url()).toBe(`${gateway.url}/review/login`);
      expect(response?.headers()["content-security-policy"]).toMatch(/script-src 'nonce-/u);
      await page.fill("input[name=key]", clinician.secret);
      await page.click("button[type=submit]");
      await page.waitForURL(`${gateway.url}/review`);

      // Four stored answers, newest first; the probe's markup is shown as text and never runs.
      const items = page.locator("article");
      await expect.poll(() => items.count()).toBe(4);
      expect(await items.first().getAttribute("data-completion-id")).toBe("chatcmpl-xss-probe");
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator(".answer").first().textContent()).toBe(xssAnswer);
      expect(await page.locator("article b").count()).toBe(0);
      await expect.poll(() => page.getByText("Is <i>this</i> escaped?").count()).toBe(1);

      // Thumbs up on the first fever answer: it leaves this clinician's queue.
      const rated = page.locator(`article[data-completion-id="${pairIds[0]}"]`);
      await rated.locator('button[name=rating][value="up"]').click();
      await page.waitForURL(`${gateway.url}/review`);
      await expect.poll(() => items.count()).toBe(3);
      expect(await rated.count()).toBe(0);
      // A correction of the XSS probe's answer: the clinician's own answer, stored as given.
      const corrected = page.locator('article[data-completion-id="chatcmpl-xss-probe"]');
      await corrected.locator("textarea[name=correction]").fill("See a clinician; do not run scripts.");
      await corrected.locator("form:has(textarea[name=correction]) button[type=submit]").click();
      await page.waitForURL(`${gateway.url}/review`);
      await expect.poll(() => items.count()).toBe(2);
      await mkdir("test-artifacts", { recursive: true });
      await page.screenshot({ path: "test-artifacts/review-page.png", fullPage: true });

      // The fever pair is the only one with a shared prompt; pressing b prefers the second answer.
      await page.goto(`${gateway.url}/review/compare`);
      const shown = await page
        .locator(".pair section")
        .evaluateAll((sections) => sections.map((section) => section.getAttribute("data-completion-id")));
      expect([...shown].sort()).toEqual([...pairIds].sort());
      await page.screenshot({ path: "test-artifacts/review-compare.png", fullPage: true });
      await page.keyboard.press("b");
      await page.waitForLoadState();
      await expect.poll(() => page.getByText("No pair of answers left to compare.").count()).toBe(1);

      const rows = await gateway.database.db
        .select()
        .from(feedback)
        .where(eq(feedback.apiKeyId, clinician.id));
      expect(rows).toHaveLength(3);
      expect(rows.find((row) => row.kind === "correction")).toMatchObject({
        completionId: "chatcmpl-xss-probe",
        correction: "See a clinician; do not run scripts.",
      });
      expect(rows.find((row) => row.kind === "rating")).toMatchObject({
        completionId: pairIds[0],
        rating: 1,
        ratingScale: "thumbs",
      });
      expect(rows.find((row) => row.kind === "preference")).toMatchObject({
        completionId: shown[0],
        otherCompletionId: shown[1],
        preference: "b",
      });
      await page.close();
    },
  );
});
