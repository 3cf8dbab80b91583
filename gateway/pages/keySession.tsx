// Server-rendered pages signed in with an API key: the page shell (CSP nonce, no caching) and the
// sign-in/out flow, shared by the clinician review pages and the admin dashboard.
import { randomBytes } from "node:crypto";
import type { Context, Env, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { GatewayEnv } from "../appTypes.ts";
import type { Caller, Role } from "../auth/ApiKeyAuth.ts";
import { UnauthorizedError } from "../errors.ts";
import { parseFormBody } from "../parseRequest.ts";

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
`;

export type SessionEnv = { Variables: GatewayEnv["Variables"] & { signedIn: Caller } };

export type PageOptions = {
  status?: 401 | 403 | 404;
  /** Links shown once signed in, with the sign-out button. */
  nav?: Child;
  signedIn?: Caller;
  /** Extra CSS after the base style. */
  css?: string;
  /** A script run at the end of the page. */
  script?: string;
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
 * Sign-in with an API key for the pages under `base`. The cookie holds the key itself: the server keeps
 * only its hash, so there is no session table to leak, and httpOnly + SameSite=Strict keep it from
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

  const loginForm = <E extends Env>(c: Context<E>, error?: { message: string; status: 401 | 403 }) =>
    renderPage(
      c,
      site,
      "Sign in",
      <form method="post" action={loginPath}>
        {error && <p class="error">{error.message}</p>}
        <p>
          <label for="key">{options.keyLabel}</label>
        </p>
        <p>
          <input id="key" name="key" type="password" autocomplete="off" required size={60} />
        </p>
        <button type="submit">Sign in</button>
      </form>,
      error ? { status: error.status } : {},
    );

  /** Resolves the cookie to an admitted key; anything else goes to the sign-in form. */
  const requireSignedIn: MiddlewareHandler<SessionEnv> = async (c, next) => {
    if (c.req.path === loginPath) return next();
    const secret = getCookie(c, cookie);
    if (!secret) return c.redirect(loginPath);
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
    const secret = ((await parseFormBody(c)).key ?? "").trim();
    let caller: Caller;
    try {
      caller = await c.get("deps").auth.authenticate(`Bearer ${secret}`);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      return loginForm(c, { message: "That key is not valid.", status: 401 });
    }
    if (!roles.includes(caller.role)) {
      return loginForm(c, { message: `${options.refusal}; this is a ${caller.role} key.`, status: 403 });
    }
    setCookie(c, cookie, secret, {
      httpOnly: true,
      sameSite: "Strict",
      path: site.base,
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: 12 * 60 * 60,
    });
    return c.redirect(site.base, 303);
  };

  const signOut = (c: Context<SessionEnv>) => {
    deleteCookie(c, cookie, { path: site.base });
    return c.redirect(loginPath, 303);
  };

  return { loginPath, loginForm, requireSignedIn, signIn, signOut };
}
