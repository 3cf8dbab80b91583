// Sign-in through the hospital's identity provider by OpenID Connect (panva's certified openid-client): the
// authorization code flow with PKCE, state and nonce, and the role a person's groups give at medgate.
import * as oidc from "openid-client";
import type { SessionPerson } from "../../db/pageSessions.ts";
import type { Role } from "./ApiKeyAuth.ts";

/** The roles a person can hold on the pages, each given by membership of any of its groups. */
export type RoleGroups = { admin: readonly string[]; clinician: readonly string[] };

export type OidcSettings = {
  /** The provider's issuer, whose `/.well-known/openid-configuration` is read. */
  issuer: URL;
  clientId: string;
  clientSecret: string;
  /** Where the provider sends the browser back: the gateway's `/auth/callback` as the browser reaches it. */
  redirectUrl: URL;
  /** Scopes asked for. Default: "openid profile email" */
  scope?: string;
  /** The claim holding the person's groups or roles; a dotted path reads inside objects. Default: "groups" */
  groupsClaim?: string;
  roleGroups: RoleGroups;
};

/** What the browser must bring back to the callback: kept in a short-lived cookie, never sent to the provider. */
export type PendingSignIn = { state: string; nonce: string; codeVerifier: string };

/** A sign-in that did not give a person a role: why, for the page and the audit trail. */
export class SignInRefused extends Error {
  override name = "SignInRefused";
  constructor(
    message: string,
    /** Who the provider said it was, when it got that far. */
    readonly person?: { subject: string; email: string | null; groups: string[] },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The highest role any of `groups` gives, or undefined when none does. */
export function roleOfGroups(groups: readonly string[], roleGroups: RoleGroups): Role | undefined {
  if (groups.some((group) => roleGroups.admin.includes(group))) return "admin";
  if (groups.some((group) => roleGroups.clinician.includes(group))) return "clinician";
  return undefined;
}

/** The groups in `claims` at a dotted path: a list of strings, or one string. */
export function groupsIn(claims: Record<string, unknown>, path: string): string[] | undefined {
  let value: unknown = claims;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return undefined;
}

/** Plain http is only ever accepted from a provider on this machine (a local Keycloak, the tests' provider). */
export function isLoopback(url: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

export class OidcSignIn {
  readonly settings: Required<OidcSettings>;
  #configuration: Promise<oidc.Configuration> | undefined;

  constructor(settings: OidcSettings) {
    this.settings = { scope: "openid profile email", groupsClaim: "groups", ...settings };
    if (this.settings.issuer.protocol !== "https:" && !isLoopback(this.settings.issuer)) {
      throw new Error(`The OpenID issuer must be an https URL (got ${this.settings.issuer.href}).`);
    }
  }

  /**
   * The provider's configuration, discovered once; a failed discovery (the provider unreachable) is tried again
   * at the next sign-in.
   */
  configuration(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.settings;
    this.#configuration ??= oidc
      .discovery(
        issuer,
        clientId,
        undefined,
        oidc.ClientSecretPost(clientSecret),
        issuer.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((error: unknown) => {
        this.#configuration = undefined;
        throw error;
      });
    return this.#configuration;
  }

  /** Where to send the browser to sign in, and what it must bring back. */
  async start(): Promise<{ url: URL; pending: PendingSignIn }> {
    const configuration = await this.configuration();
    const pending = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
    };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.settings.redirectUrl.href,
      scope: this.settings.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: "S256",
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url, pending };
  }

  /**
   * Completes a sign-in from the callback's query: checks the state, exchanges the code with the PKCE verifier,
   * checks the ID token (signature, issuer, audience, expiry, nonce) and finds the person's groups in it or, when
   * it holds none, at the userinfo endpoint. Throws SignInRefused when any of it fails or no group gives a role.
   */
  async finish(query: URLSearchParams, pending: PendingSignIn): Promise<SessionPerson> {
    const configuration = await this.configuration();
    const currentUrl = new URL(this.settings.redirectUrl);
    currentUrl.search = query.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw new SignInRefused(`The identity provider's answer was refused: ${reasonOf(error)}`, undefined, {
        cause: error,
      });
    }
    const claims = tokens.claims()!;
    const subject = claims.sub;
    let groups = groupsIn(claims, this.settings.groupsClaim);
    let profile: Record<string, unknown> = claims;
    if (
      (groups === undefined || emailOf(claims) === null) &&
      configuration.serverMetadata().userinfo_endpoint
    ) {
      // Many providers put groups and profile claims (name, email) only in the userinfo answer.
      const userinfo = await oidc
        .fetchUserInfo(configuration, tokens.access_token, subject)
        .catch((error) => {
          throw new SignInRefused(`The identity provider's userinfo failed: ${reasonOf(error)}`, undefined, {
            cause: error,
          });
        });
      groups ??= groupsIn(userinfo, this.settings.groupsClaim);
      profile = { ...userinfo, ...claims };
    }
    const email = emailOf(profile);
    const role = roleOfGroups(groups ?? [], this.settings.roleGroups);
    if (!role) {
      throw new SignInRefused(
        groups === undefined
          ? `The identity provider sent no "${this.settings.groupsClaim}" claim, so no group gives this account a role at medgate.`
          : "This account is in no group that gives a role at medgate.",
        { subject, email, groups: groups ?? [] },
      );
    }
    const name = typeof profile.name === "string" && profile.name ? profile.name : (email ?? subject);
    return { issuer: configuration.serverMetadata().issuer, subject, email, name, role };
  }
}

/**
 * The person's email: the `email` claim, else Entra ID's `preferred_username` when it is one (the user principal
 * name, which Entra sends without an email scope grant).
 */
function emailOf(claims: Record<string, unknown>): string | null {
  if (typeof claims.email === "string" && claims.email) return claims.email;
  const username = claims.preferred_username;
  return typeof username === "string" && username.includes("@") ? username : null;
}

/** A short reason from openid-client's errors (their codes name the failed check). */
function reasonOf(error: unknown): string {
  if (error instanceof oidc.AuthorizationResponseError) {
    return `${error.error}${error.error_description ? ` (${error.error_description})` : ""}`;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // openid-client's messages name the kind of check; the cause names the check itself ("nonce", "state").
    const detail = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${detail}${typeof code === "string" ? ` [${code}]` : ""}`;
  }
  return String(error);
}
