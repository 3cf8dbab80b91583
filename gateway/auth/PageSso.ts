// What the pages need to sign people in through the identity provider; absent, they sign in with API keys only.
import type { Database } from "../../db/createDatabase.ts";
import { type OidcSettings, OidcSignIn } from "./OidcSignIn.ts";
import { type PageSessionSettings, PageSessions } from "./PageSessions.ts";

export type PageSso = {
  oidc: OidcSignIn;
  sessions: PageSessions;
  /** Whether the pages still take an API key in their sign-in form (API keys keep working on /v1). */
  keySignIn: boolean;
};

/** How a gateway signs people in to its pages through an identity provider. */
export type SsoOptions = {
  oidc: OidcSettings;
  sessions?: PageSessionSettings;
  /** Whether the pages still take an API key in their sign-in form. Default: true */
  keySignIn?: boolean;
};

export function pageSsoOf(db: Database, options: SsoOptions): PageSso {
  return {
    oidc: new OidcSignIn(options.oidc),
    sessions: new PageSessions(db, options.sessions),
    keySignIn: options.keySignIn ?? true,
  };
}

/** The session cookie of a person signed in through the identity provider, for every page. */
export const sessionCookie = "medgate_session";
/** The short-lived cookie carrying a sign-in's state, nonce and PKCE verifier to the callback. */
export const pendingCookie = "medgate_sign_in";
