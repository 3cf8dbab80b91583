// Sign-in to the pages through a real OpenID provider (oidc-provider, started here on 127.0.0.1 with test accounts
// and a `groups` claim), in Chromium: the authorization code flow with PKCE, state and nonce, a role from a group,
// refusals, sign-out ending the server-side session, expired and idle sessions, a tampered state or nonce, and API
// keys that keep working on /v1 while the pages take only the provider's sign-in. The gateway is reached as
// `localhost` and the provider as `127.0.0.1`, two sites, so the return from the provider is the cross-site
// navigation it is in production.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, desc, eq, isNull, like } from "drizzle-orm";
import Provider from "oidc-provider";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { hashSessionToken, personIdOf } from "../../db/pageSessions.ts";
import { auditEvents, completions, feedback, pageSessions } from "../../db/schema.ts";
import type { SsoOptions } from "../../gateway/auth/PageSso.ts";
import { type Gateway, openGateway } from "../../gateway/openGateway.ts";
import { browserNote, chromiumPath, launchChromium } from "../support/browser.ts";
import { createTestDatabase, type TestDatabase } from "../support/testDatabase.ts";

/** The provider's accounts: the login is the subject; any password is taken (oidc-provider's dev interactions). */
const accounts: Record<string, { email: string; name: string; groups: string[] }> = {
  "dr-rivera": { email: "rivera@hospital.example", name: "Dr. Rivera", groups: ["staff", "clinicians"] },
  "ops-lead": { email: "ops@hospital.example", name: "Ops Lead", groups: ["medgate-admins"] },
  visitor: { email: "visitor@hospital.example", name: "A Visitor", groups: ["finance"] },
};

let database: TestDatabase;
let providerServer: Server;
let issuer: string;
let gateway: Gateway;
/** The gateway as the browser reaches it. */
let base: string;
let spoolDirs: string[] = [];
let browser: Browser;

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function startGateway(port: number, sso: SsoOptions): Promise<Gateway> {
  const spoolDir = await mkdtemp(join(tmpdir(), "medgate-sso-spool-"));
  spoolDirs.push(spoolDir);
  return openGateway(database, { host: "127.0.0.1", port, spoolDir, drainTimeout: 1_000, sso });
}

function ssoOptions(port: number, overrides: Partial<SsoOptions> = {}): SsoOptions {
  return {
    oidc: {
      issuer: new URL(issuer),
      clientId: "medgate",
      clientSecret: "medgate-test-secret",
      redirectUrl: new URL(`http://localhost:${port}/auth/callback`),
      roleGroups: { clinician: ["clinicians"], admin: ["medgate-admins"] },
    },
    sessions: { maxAgeMs: 60 * 60_000, idleMs: 10 * 60_000 },
    ...overrides,
  };
}

beforeAll(async () => {
  database = await createTestDatabase("postgres");
  const gatewayPort = await freePort();
  const alsoSsoOnlyPort = await freePort();
  providerServer = createServer();
  issuer = `http://127.0.0.1:${await listen(providerServer)}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "medgate",
        client_secret: "medgate-test-secret",
        redirect_uris: [
          `http://localhost:${gatewayPort}/auth/callback`,
          `http://localhost:${alsoSsoOnlyPort}/auth/callback`,
        ],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    claims: { openid: ["sub", "groups"], email: ["email", "email_verified"], profile: ["name"] },
    cookies: { keys: ["oidc-provider-test-cookie-key"] },
    async findAccount(_ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, email_verified: true, ...account };
        },
      };
    },
  });
  const handle = provider.callback();
  providerServer.on("request", (request, response) => {
    // What a party between the browser and the provider could change: the nonce of the authorization request on
    // its way out, the state of the answer on its way back (Playwright's routes do not see redirects).
    if (tamper.nonce && request.url?.startsWith("/auth?")) {
      const url = new URL(request.url, issuer);
      url.searchParams.set("nonce", tampered);
      request.url = `${url.pathname}${url.search}`;
    }
    if (tamper.state) {
      const setHeader = response.setHeader.bind(response);
      response.setHeader = (name, value) => {
        if (name.toLowerCase() === "location" && String(value).includes("/auth/callback?")) {
          const url = new URL(String(value));
          url.searchParams.set("state", tampered);
          return setHeader(name, url.href);
        }
        return setHeader(name, value);
      };
    }
    handle(request, response);
  });
  gateway = await startGateway(gatewayPort, ssoOptions(gatewayPort));
  base = `http://localhost:${gatewayPort}`;
  ssoOnly.port = alsoSsoOnlyPort;
  if (chromiumPath) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gateway?.[Symbol.asyncDispose]();
  await ssoOnly.gateway?.[Symbol.asyncDispose]();
  await new Promise((resolve) => providerServer?.close(resolve));
  await database?.[Symbol.asyncDispose]();
  for (const dir of spoolDirs) await rm(dir, { recursive: true, force: true });
  spoolDirs = [];
});

const ssoOnly: { port: number; gateway?: Gateway } = { port: 0 };
/** Which parameter the provider's server has tampered with. */
const tamper: { state?: boolean; nonce?: boolean } = {};
const tampered = "tampered-0123456789abcdefghijklmnopqrstuvwxyz";

/** Signs in through the provider's login and consent pages; the page is left where the flow ended. */
async function signInThroughProvider(page: Page, login: string, to: "review" | "admin" = "review") {
  await page.goto(`${base}/${to}`);
  expect(page.url()).toBe(`${base}/${to}/login`);
  await page.getByText("Sign in with your organisation's account").click();
  await page.waitForURL(`${issuer}/interaction/**`);
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any password");
  await page.click("button[type=submit]");
  await page.waitForURL(`${issuer}/interaction/**`);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL(`${base}/**`);
  await page.waitForLoadState();
}

async function cookieOf(context: BrowserContext, name: string) {
  return (await context.cookies(base)).find((cookie) => cookie.name === name);
}

async function auditRows(action: string, subject: string | null) {
  return database.db
    .select()
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, action),
        subject === null ? isNull(auditEvents.personSubject) : eq(auditEvents.personSubject, subject),
      ),
    )
    .orderBy(desc(auditEvents.seq));
}

describe("sign-in through the identity provider", () => {
  it("sends the browser to the provider with PKCE, state and nonce, in a Lax cookie kept for the callback", async () => {
    const response = await fetch(`${base}/auth/login?to=admin`, { redirect: "manual" });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location")!);
    expect(location.origin).toBe(issuer);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: "medgate",
      response_type: "code",
      redirect_uri: `${base}/auth/callback`,
      scope: "openid profile email",
      code_challenge_method: "S256",
    });
    for (const param of ["state", "nonce", "code_challenge"]) {
      expect(location.searchParams.get(param)?.length).toBeGreaterThanOrEqual(43);
    }
    const cookie = response.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^medgate_sign_in=/u);
    expect(cookie).toMatch(/Path=\/auth\/callback/u);
    expect(cookie).toMatch(/HttpOnly/u);
    expect(cookie).toMatch(/SameSite=Lax/u);
    // The verifier is never sent to the provider.
    expect(location.href).not.toContain("code_verifier");
    const unknownPage = await fetch(`${base}/auth/login?to=elsewhere`, { redirect: "manual" });
    expect(unknownPage.status).toBe(400);
    // A callback without its pending cookie is not a sign-in.
    const stray = await fetch(`${base}/auth/callback?code=x&state=y`, { redirect: "manual" });
    expect(stray.status).toBe(400);
    expect(stray.headers.get("set-cookie") ?? "").not.toContain("medgate_session=");
  });

  it.skipIf(!chromiumPath)(
    `gives a clinician the review pages from their group, names them in the audit trail, and keeps them off the dashboard${browserNote}`,
    async () => {
      await database.db.insert(completions).values({
        id: "chatcmpl-sso-1",
        createdAt: new Date(),
        request: {},
        messages: [{ role: "user", content: "What is a fever?" }],
        choices: [{ index: 0, text: "A raised body temperature.", finishReason: "stop" }],
        stored: true,
        status: "stop",
        promptHash: "sso-1",
        promptTokens: 1,
        completionTokens: 1,
        latencyMs: 1,
        modelName: "tiny",
        traceId: "sso-1",
      });
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await signInThroughProvider(page, "dr-rivera");
      // The callback's page moved on to the queue by a same-site navigation, which sends the Strict cookie.
      await page.waitForURL(`${base}/review`);
      expect(await page.locator("h1").textContent()).toBe("Answers to review");
      expect(await page.locator("header").textContent()).toContain("Dr. Rivera");
      const session = await cookieOf(context, "medgate_session");
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
      expect(await cookieOf(context, "medgate_sign_in")).toBeUndefined();

      // Feedback from the page carries the person's id at medgate.
      await page.locator('article[data-completion-id="chatcmpl-sso-1"] button[value="up"]').click();
      await page.waitForURL(`${base}/review`);
      const [rating] = await database.db
        .select()
        .from(feedback)
        .where(eq(feedback.completionId, "chatcmpl-sso-1"));
      expect(rating?.apiKeyId).toBe(personIdOf(issuer, "dr-rivera"));

      const [signedIn] = await auditRows("sign-in", "dr-rivera");
      expect(signedIn).toMatchObject({
        actorKind: "person",
        actorName: "Dr. Rivera",
        personEmail: "rivera@hospital.example",
        role: "clinician",
        apiKeyId: null,
      });
      // Reads are named after the person too.
      const [read] = await database.db
        .select()
        .from(auditEvents)
        .where(and(like(auditEvents.action, "GET /review%"), eq(auditEvents.personSubject, "dr-rivera")));
      expect(read?.personEmail).toBe("rivera@hospital.example");

      const dashboard = await page.goto(`${base}/admin`);
      expect(dashboard?.status()).toBe(403);
      expect(await page.locator("main").textContent()).toContain("Dr. Rivera is signed in as clinician");
      await context.close();
    },
  );

  it.skipIf(!chromiumPath)(`gives an admin the dashboard from their group${browserNote}`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await signInThroughProvider(page, "ops-lead", "admin");
    await page.waitForURL(`${base}/admin`);
    expect(await page.locator("h1").textContent()).toBe("Models, rounds and promotions");
    // An admin may review too, with the same session.
    await page.goto(`${base}/review`);
    expect(await page.locator("h1").textContent()).toBe("Answers to review");
    expect((await auditRows("sign-in", "ops-lead"))[0]).toMatchObject({ role: "admin" });
    await context.close();
  });

  it.skipIf(!chromiumPath)(
    `refuses a person in no group that gives a role, and audits the refusal${browserNote}`,
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await signInThroughProvider(page, "visitor");
      expect(page.url()).toMatch(new RegExp(`^${base}/auth/callback\\?`, "u"));
      expect(await page.locator("h1").textContent()).toBe("Sign-in refused");
      expect(await page.locator("main").textContent()).toContain("in no group that gives a role");
      expect(await cookieOf(context, "medgate_session")).toBeUndefined();
      const [refused] = await auditRows("sign-in refused", "visitor");
      expect(refused).toMatchObject({ personEmail: "visitor@hospital.example", role: "none" });
      expect(refused?.query).toMatchObject({ groups: ["finance"] });
      await page.goto(`${base}/review`);
      expect(page.url()).toBe(`${base}/review/login`);
      await context.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `ends the server-side session at sign-out: the old cookie no longer works${browserNote}`,
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await signInThroughProvider(page, "dr-rivera");
      await page.waitForURL(`${base}/review`);
      const token = (await cookieOf(context, "medgate_session"))!.value;
      const withOldCookie = () =>
        fetch(`${base}/review`, { headers: { cookie: `medgate_session=${token}` }, redirect: "manual" });
      expect((await withOldCookie()).status).toBe(200);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(`${base}/review/login`);
      expect(await cookieOf(context, "medgate_session")).toBeUndefined();
      const after = await withOldCookie();
      expect(after.status).toBe(302);
      expect(after.headers.get("location")).toBe("/review/login");
      expect((await auditRows("sign-out", "dr-rivera")).length).toBeGreaterThanOrEqual(1);
      await context.close();
    },
  );

  it.skipIf(!chromiumPath)(
    `refuses a session past its expiry or its idle timeout${browserNote}`,
    async () => {
      for (const over of [
        { expiresAt: new Date(Date.now() - 1_000) },
        { lastSeenAt: new Date(Date.now() - 11 * 60_000) },
      ]) {
        const context = await browser.newContext();
        const page = await context.newPage();
        page.setDefaultTimeout(10_000);
        await signInThroughProvider(page, "dr-rivera");
        await page.waitForURL(`${base}/review`);
        const token = (await cookieOf(context, "medgate_session"))!.value;
        const ended = await database.db
          .update(pageSessions)
          .set(over)
          .where(eq(pageSessions.tokenHash, hashSessionToken(token)))
          .returning();
        expect(ended).toHaveLength(1);
        await page.goto(`${base}/review`);
        expect(page.url()).toBe(`${base}/review/login`);
        expect(await cookieOf(context, "medgate_session")).toBeUndefined();
        await context.close();
      }
    },
  );

  it.skipIf(!chromiumPath)(
    `refuses a callback whose state or ID token nonce was tampered with${browserNote}`,
    async () => {
      for (const param of ["state", "nonce"] as const) {
        const context = await browser.newContext();
        const page = await context.newPage();
        page.setDefaultTimeout(10_000);
        tamper[param] = true;
        try {
          await signInThroughProvider(page, "dr-rivera");
        } finally {
          tamper[param] = false;
        }
        expect(await page.locator("h1").textContent(), param).toBe("Sign-in refused");
        expect(await page.locator("main").textContent(), param).toContain(
          "The identity provider's answer was refused",
        );
        expect(await cookieOf(context, "medgate_session"), param).toBeUndefined();
        await context.close();
      }
      const refusals = await auditRows("sign-in refused", null);
      expect(refusals.map((row) => String(row.query.reason))).toEqual([
        expect.stringMatching(/nonce/iu),
        expect.stringMatching(/state/iu),
      ]);
    },
  );

  it("keeps API keys working on /v1 while the pages take only the provider's sign-in", async () => {
    ssoOnly.gateway = await startGateway(ssoOnly.port, ssoOptions(ssoOnly.port, { keySignIn: false }));
    const url = `http://127.0.0.1:${ssoOnly.port}`;
    const { secret } = await createApiKey(database.db, { name: "Dr. Key", role: "clinician" });
    const form = await (await fetch(`${url}/review/login`)).text();
    expect(form).toContain("Sign in with your organisation");
    expect(form).not.toContain('name="key"');
    const keySignIn = await fetch(`${url}/review/login`, {
      method: "POST",
      body: new URLSearchParams({ key: secret }),
      redirect: "manual",
    });
    expect(keySignIn.status).toBe(403);
    expect(keySignIn.headers.get("set-cookie")).toBeNull();
    const keyCookie = await fetch(`${url}/review`, {
      headers: { cookie: `medgate_review=${secret}` },
      redirect: "manual",
    });
    expect(keyCookie.headers.get("location")).toBe("/review/login");
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(models.status).toBe(200);
    // The first gateway still takes keys on its form, and audits the key's sign-in.
    const withKey = await fetch(`${base.replace("localhost", "127.0.0.1")}/review/login`, {
      method: "POST",
      body: new URLSearchParams({ key: secret }),
      redirect: "manual",
    });
    expect(withKey.status).toBe(303);
    const [keyRow] = await database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "sign-in"), eq(auditEvents.actorName, "Dr. Key")));
    expect(keyRow).toMatchObject({ actorKind: "key", role: "clinician", personSubject: null });
  });
});
