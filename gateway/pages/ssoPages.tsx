// Sign-in to the pages through the hospital's identity provider (OpenID Connect): /auth/login sends the browser to
// the provider, /auth/callback takes it back, opens a server-side session and audits the sign-in or its refusal.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { type PendingSignIn, SignInRefused } from "../auth/OidcSignIn.ts";
import { type PageSso, pendingCookie, sessionCookie } from "../auth/PageSso.ts";
import { BadRequestError, NotFoundError, UnavailableError } from "../errors.ts";
import { renderPage, type SessionEnv, sessionCookieOptions } from "./keySession.tsx";
import { auditSignIn } from "./signInAudit.ts";

const site = { name: "medgate", base: "/" };
/** The pages a sign-in may return to. */
const destinations = { review: "/review", admin: "/admin" } as const;
type Destination = keyof typeof destinations;
/** How long a browser has to come back from the provider. */
const pendingMaxAgeSeconds = 10 * 60;

type Pending = PendingSignIn & { to: Destination; expires: number };

function ssoOf(c: Context<SessionEnv>): PageSso {
  const sso = c.get("deps").sso;
  if (!sso) {
    throw new NotFoundError("Sign-in through an identity provider is not configured.", null, "unknown_url");
  }
  return sso;
}

/**
 * The pending sign-in cookie is sealed with an HMAC keyed by the client secret, which every gateway of the
 * deployment shares: a cookie planted by another site on this domain (cookie tossing) cannot pass for one.
 */
function sealKey(sso: PageSso): Buffer {
  return createHash("sha256").update(`medgate sign-in\n${sso.oidc.settings.clientSecret}`).digest();
}

function seal(sso: PageSso, pending: Pending): string {
  const payload = Buffer.from(JSON.stringify(pending)).toString("base64url");
  return `${payload}.${createHmac("sha256", sealKey(sso)).update(payload).digest("base64url")}`;
}

function unseal(sso: PageSso, sealed: string | undefined, now: number): Pending | undefined {
  const [payload, mac] = (sealed ?? "").split(".");
  if (!payload || !mac) return undefined;
  const expected = createHmac("sha256", sealKey(sso)).update(payload).digest();
  const given = Buffer.from(mac, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const pending = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Pending;
  return pending.expires > now && Object.hasOwn(destinations, pending.to) ? pending : undefined;
}

/**
 * The pending cookie goes only to the callback. It is SameSite=Lax because the provider's redirect back is a
 * cross-site top-level navigation, which a Strict cookie would not follow; it lives ten minutes and is deleted at
 * the callback, whatever the outcome.
 */
function pendingCookieOptions(sso: PageSso) {
  const url = sso.oidc.settings.redirectUrl;
  return { path: url.pathname, httpOnly: true, sameSite: "Lax" as const, secure: url.protocol === "https:" };
}

/** Reads the provider's discovery document (once); a provider that cannot be reached is a 503, tried again later. */
async function reachProvider(sso: PageSso): Promise<void> {
  await sso.oidc.configuration().catch((error: unknown) => {
    throw new UnavailableError(
      `The identity provider cannot be reached right now (${error instanceof Error ? error.message : String(error)}). Retry shortly.`,
      "identity_provider_unavailable",
    );
  });
}

export const ssoPages = new Hono<SessionEnv>()
  .get("/auth/login", async (c) => {
    const sso = ssoOf(c);
    const to = c.req.query("to") ?? "review";
    if (!Object.hasOwn(destinations, to)) {
      throw new BadRequestError(`No page "${to}" to sign in to: review or admin.`, "to", "invalid_value");
    }
    await reachProvider(sso);
    const { url, pending } = await sso.oidc.start();
    const expires = Date.now() + pendingMaxAgeSeconds * 1000;
    setCookie(c, pendingCookie, seal(sso, { ...pending, to: to as Destination, expires }), {
      ...pendingCookieOptions(sso),
      maxAge: pendingMaxAgeSeconds,
    });
    c.header("Cache-Control", "no-store");
    return c.redirect(url.href, 302);
  })
  .get("/auth/callback", async (c) => {
    const sso = ssoOf(c);
    const pending = unseal(sso, getCookie(c, pendingCookie), Date.now());
    deleteCookie(c, pendingCookie, pendingCookieOptions(sso));
    if (!pending) {
      return renderPage(
        c,
        site,
        "Sign-in not recognised",
        <p>
          This sign-in expired or was not started in this browser. <a href="/review/login">Sign in again</a>.
        </p>,
        { status: 400 },
      );
    }
    const back = destinations[pending.to];
    // Behind a load balancer the callback may reach a gateway that has not read the provider's configuration yet.
    await reachProvider(sso);
    const query = new URL(c.req.url).searchParams;
    let person: Awaited<ReturnType<typeof sso.oidc.finish>>;
    try {
      person = await sso.oidc.finish(query, pending);
    } catch (error) {
      if (!(error instanceof SignInRefused)) throw error;
      await auditSignIn(
        c,
        "sign-in refused",
        { subject: error.person?.subject ?? null, email: error.person?.email ?? null },
        { page: back, with: "openid connect", reason: error.message, groups: error.person?.groups ?? null },
      );
      return renderPage(
        c,
        site,
        "Sign-in refused",
        <p>
          {error.message} <a href={`${back}/login`}>Back to the sign-in page</a>.
        </p>,
        { status: error.person ? 403 : 401 },
      );
    }
    const { token, caller } = await sso.sessions.open(person);
    await auditSignIn(c, "sign-in", caller, { page: back, with: "openid connect", issuer: person.issuer });
    setCookie(c, sessionCookie, token, {
      ...sessionCookieOptions(c),
      maxAge: Math.floor(sso.sessions.maxAgeMs / 1000),
    });
    // A page, not a redirect: the browser arrived here from the provider's site, and a redirect would continue that
    // cross-site navigation, on which the SameSite=Strict session cookie is not sent. The refresh starts a new,
    // same-site one.
    return renderPage(
      c,
      site,
      "Signed in",
      <p>
        {`Signed in as ${caller.name} (${caller.role}). `}
        <a href={back}>Continue</a>
      </p>,
      { refreshTo: back },
    );
  });
