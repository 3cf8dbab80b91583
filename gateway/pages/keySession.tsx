// Server-rendered pages signed in with an API key or, when configured, through the identity provider: the page
// shell (CSP nonce, no caching) and the sign-in/out flow, shared by the clinician review pages and the dashboard.
import { randomBytes } from "node:crypto";
import type { Context, Env, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { GatewayEnv } from "../appTypes.ts";
import type { Caller, Role } from "../auth/ApiKeyAuth.ts";
import { sessionCookie } from "../auth/PageSso.ts";
import { UnauthorizedError, UnavailableError } from "../errors.ts";
import { parseFormBody } from "../parseRequest.ts";
import { auditSignIn } from "./signInAudit.ts";

export const baseCss = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1d2330;background:#f4f6f9}
header{display:flex;gap:1.5rem;align-items:center;padding:.75rem 1.5rem;background:#1f4e79;color:#fff}
header a{color:#fff}header form{margin-left:auto}
main{max-width:72rem;margin:1.5rem auto;padding:0 1.5rem}
h1{font-size:1.3rem;margin:0 0 1rem}
article{background:#fff;border:1px solid #d8dde6;border-radius:8px;padding:1rem 1.25rem;margin-bottom:1.25rem}
.meta{color:#5a6478;font-size:.8rem}
button,select{font:inherit;padding:.3rem .7rem;border:1px solid #9aa6b8;border-radius:5px;background:#fff;cursor:pointer}
button:hover{background:#e8eef7}
.error{color:#a4161a;font-weight:600}
a.button{display:inline-block;padding:.3rem .7rem;border:1px solid #9aa6b8;border-radius:5px;background:#fff;color:inherit;text-decoration:none}
`;

export type SessionEnv = { Variables: GatewayEnv["Variables"] & { signedIn: Caller } };

export type PageOptions = {
  status?: 400 | 401 | 403 | 404;
  /** Links shown once signed in, with the sign-out button. */
  nav?: Child;
  signedIn?: Caller;
  /** Extra CSS after the base style. */
  css?: string;
  /** A script run at the end of the page. */
  script?: string;
  /** A same-site path the page moves on to at once (a meta refresh, which CSP does not block). */
  refreshTo?: string;
};

/** Renders a whole page; every piece of text reaches the HTML through escaped JSX text nodes. */
export function renderPage<E extends Env>(
  c: Context<E>,
  site: { name: string; base: string },
  title: string,
  body: Child,
  options: PageOptions = {},
) {
  // A fresh nonce per response: only this page's own style and script may run.
  const nonce = randomBytes(16).toString("base64");
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; img-src 'self' data:; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  );
  c.header("Cache-Control", "no-store");
  const { signedIn } = options;
  return c.html(
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <title>{`${title} · ${site.name}`}</title>
          {options.refreshTo && <meta http-equiv="refresh" content={`0;url=${options.refreshTo}`} />}
          <style nonce={nonce} dangerouslySetInnerHTML={{ __html: baseCss + (options.css ?? "") }} />
        </head>
        <body>
          <header>
            <strong>{site.name}</strong>
            {signedIn && (
              <>
                {options.nav}
                <form method="post" action={`${site.base}/logout`}>
                  <span>{signedIn.name} </span>
                  <button type="submit">Sign out</button>
                </form>
              </>
            )}
          </header>
          <main>
            <h1>{title}</h1>
            {body}
          </main>
          {options.script && <script nonce={nonce} dangerouslySetInnerHTML={{ __html: options.script }} />}
        </body>
      </html>
    </>,
    options.status ?? 200,
  );
}

/**
 * Sign-in for the pages under `base`: through the identity provider when the gateway has one (`deps.sso`), and with
 * an API key unless that is switched off. A key's cookie holds the key itself: the server keeps only its hash, so
 * there is no session table to leak. A person's cookie holds a random token of a server-side session
 * (`PageSessions`), ended by sign-out, expiry or idleness. Both cookies are httpOnly and SameSite=Strict, kept from
 * scripts and from cross-site form posts (CSRF). Only `roles` are admitted.
 */
export function keySession(options: {
  site: { name: string; base: string };
  cookie: string;
  roles: readonly Role[];
  /** What the sign-in form asks for, e.g. "Your clinician API key". */
  keyLabel: string;
  /** Why another role is refused, e.g. "Reviews need a clinician key". */
  refusal: string;
}) {
  const { site, cookie, roles } = options;
  const loginPath = `${site.base}/login`;
  const logoutPath = `${site.base}/logout`;

  const loginForm = (c: Context<SessionEnv>, error?: { message: string; status: 401 | 403 }) => {
    const sso = c.get("deps").sso;
    return renderPage(
      c,
      site,
      "Sign in",
      <>
        {error && <p class="error">{error.message}</p>}
        {sso && (
          <p>
            <a class="button" href={`/auth/login?to=${site.base.slice(1)}`}>
              Sign in with your organisation's account
            </a>
          </p>
        )}
        {(!sso || sso.keySignIn) && (
          <form method="post" action={loginPath}>
            <p>
              <label for="key">{sso ? `Or: ${options.keyLabel.toLowerCase()}` : options.keyLabel}</label>
            </p>
            <p>
              <input id="key" name="key" type="password" autocomplete="off" required size={60} />
            </p>
            <button type="submit">Sign in</button>
          </form>
        )}
      </>,
      error ? { status: error.status } : {},
    );
  };

  /** The person behind a session cookie; undefined when there is none or it is over (the cookie is then cleared). */
  const personOf = async (c: Context<SessionEnv>): Promise<Caller | "none" | "over"> => {
    const sso = c.get("deps").sso;
    const token = sso && getCookie(c, sessionCookie);
    if (!sso || !token) return "none";
    let caller: Caller | undefined;
    try {
      caller = await sso.sessions.resume(token);
    } catch (error) {
      throw new UnavailableError(
        `Sessions cannot be checked right now (${error instanceof Error ? error.message : String(error)}). Retry shortly.`,
      );
    }
    if (caller) return caller;
    deleteCookie(c, sessionCookie, sessionCookieOptions(c));
    return "over";
  };

  /**
   * Resolves the session or key cookie to an admitted caller; anything else goes to the sign-in form. A person whose
   * role is not admitted here is told so (signing in again would not change it), and may still sign out.
   */
  const requireSignedIn: MiddlewareHandler<SessionEnv> = async (c, next) => {
    if (c.req.path === loginPath) return next();
    const person = await personOf(c);
    if (person === "over") return c.redirect(loginPath);
    if (person !== "none") {
      c.set("signedIn", person);
      if (roles.includes(person.role) || c.req.path === logoutPath) return next();
      return renderPage(
        c,
        site,
        "Not admitted",
        <p>{`${options.refusal}; ${person.name} is signed in as ${person.role}.`}</p>,
        { status: 403, signedIn: person },
      );
    }
    const sso = c.get("deps").sso;
    const secret = getCookie(c, cookie);
    if (!secret || (sso && !sso.keySignIn)) return c.redirect(loginPath);
    let caller: Caller;
    try {
      caller = await c.get("deps").auth.authenticate(`Bearer ${secret}`);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      deleteCookie(c, cookie, { path: site.base });
      return c.redirect(loginPath);
    }
    if (!roles.includes(caller.role)) return c.redirect(loginPath);
    c.set("signedIn", caller);
    return next();
  };

  const signIn = async (c: Context<SessionEnv>) => {
    const sso = c.get("deps").sso;
    if (sso && !sso.keySignIn) {
      return loginForm(c, {
        message: "Signing in with an API key is switched off here: sign in with your organisation's account.",
        status: 403,
      });
    }
    const secret = ((await parseFormBody(c)).key ?? "").trim();
    let caller: Caller;
    try {
      caller = await c.get("deps").auth.authenticate(`Bearer ${secret}`);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      return loginForm(c, { message: "That key is not valid.", status: 401 });
    }
    if (!roles.includes(caller.role)) {
      await auditSignIn(c, "sign-in refused", caller, { page: site.base, with: "api key" });
      return loginForm(c, { message: `${options.refusal}; this is a ${caller.role} key.`, status: 403 });
    }
    await auditSignIn(c, "sign-in", caller, { page: site.base, with: "api key" });
    setCookie(c, cookie, secret, {
      httpOnly: true,
      sameSite: "Strict",
      path: site.base,
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: 12 * 60 * 60,
    });
    return c.redirect(site.base, 303);
  };

  /** Ends the person's server-side session (their old cookie no longer works anywhere) or forgets the key. */
  const signOut = async (c: Context<SessionEnv>) => {
    const sso = c.get("deps").sso;
    const token = sso && getCookie(c, sessionCookie);
    const who = c.get("signedIn");
    if (sso && token) {
      await sso.sessions.end(token);
      deleteCookie(c, sessionCookie, sessionCookieOptions(c));
    }
    deleteCookie(c, cookie, { path: site.base });
    await auditSignIn(c, "sign-out", who, { page: site.base, with: token ? "session" : "api key" });
    return c.redirect(loginPath, 303);
  };

  return { loginPath, loginForm, requireSignedIn, signIn, signOut };
}

/** The session cookie's attributes: every page, httpOnly, SameSite=Strict, Secure where the browser uses https. */
export function sessionCookieOptions(c: Context<SessionEnv>) {
  const sso = c.get("deps").sso;
  return {
    path: "/",
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: sso?.oidc.settings.redirectUrl.protocol === "https:",
  };
}
