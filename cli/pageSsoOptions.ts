// serve's sign-in through the identity provider, from its --oidc-* and --session-* options: checked together at
// start, the client secret read from its variable or file (and never printed).
import { readFile } from "node:fs/promises";
import { isLoopback } from "../gateway/auth/OidcSignIn.ts";
import type { SsoOptions } from "../gateway/auth/PageSso.ts";
import { ConfigError, durationMs, type ServeConfig } from "./config.ts";

type SsoConfig = Pick<
  ServeConfig,
  | "oidcIssuer"
  | "oidcClientId"
  | "oidcClientSecret"
  | "oidcClientSecretFile"
  | "oidcRedirectUrl"
  | "oidcScope"
  | "oidcGroupsClaim"
  | "oidcClinicianGroups"
  | "oidcAdminGroups"
  | "sessionMaxAge"
  | "sessionIdle"
  | "ssoOnly"
>;

/** The gateway's sign-in through the provider, or undefined when no issuer is given (API keys only). */
export async function pageSsoOptions(config: SsoConfig): Promise<SsoOptions | undefined> {
  if (!config.oidcIssuer) {
    const stray = (
      [
        ["oidcClientId", "--oidc-client-id"],
        ["oidcClientSecret", "--oidc-client-secret"],
        ["oidcClientSecretFile", "--oidc-client-secret-file"],
        ["oidcRedirectUrl", "--oidc-redirect-url"],
        ["oidcClinicianGroups", "--oidc-clinician-groups"],
        ["oidcAdminGroups", "--oidc-admin-groups"],
        ["ssoOnly", "--sso-only"],
      ] as const
    ).find(([key]) => config[key]);
    if (stray) throw new ConfigError(`${stray[1]} needs --oidc-issuer URL.`);
    return undefined;
  }
  if (!config.oidcClientId) throw new ConfigError("--oidc-issuer needs --oidc-client-id.");
  if (!config.oidcRedirectUrl) throw new ConfigError("--oidc-issuer needs --oidc-redirect-url.");
  const redirectUrl = new URL(config.oidcRedirectUrl);
  if (!redirectUrl.pathname.endsWith("/auth/callback")) {
    throw new ConfigError(
      `--oidc-redirect-url must be this gateway's /auth/callback as browsers reach it (got ${redirectUrl.pathname}).`,
    );
  }
  if (config.oidcClientSecret && config.oidcClientSecretFile) {
    throw new ConfigError("Give the client secret once: --oidc-client-secret or --oidc-client-secret-file.");
  }
  const clientSecret = config.oidcClientSecretFile
    ? (
        await readFile(config.oidcClientSecretFile, "utf8").catch((error: Error) => {
          throw new ConfigError(`--oidc-client-secret-file: ${error.message}`);
        })
      ).trim()
    : config.oidcClientSecret;
  if (!clientSecret) {
    throw new ConfigError(
      "--oidc-issuer needs the client secret: MEDGATE_OIDC_CLIENT_SECRET or --oidc-client-secret-file FILE.",
    );
  }
  const roleGroups = { clinician: config.oidcClinicianGroups ?? [], admin: config.oidcAdminGroups ?? [] };
  if (roleGroups.clinician.length === 0 && roleGroups.admin.length === 0) {
    throw new ConfigError(
      "--oidc-issuer needs --oidc-clinician-groups or --oidc-admin-groups: without them nobody could sign in.",
    );
  }
  const issuer = new URL(config.oidcIssuer);
  if (issuer.protocol !== "https:" && !isLoopback(issuer)) {
    throw new ConfigError(`--oidc-issuer must be an https URL (got ${issuer.href}).`);
  }
  return {
    oidc: {
      issuer,
      clientId: config.oidcClientId,
      clientSecret,
      redirectUrl,
      scope: config.oidcScope,
      groupsClaim: config.oidcGroupsClaim,
      roleGroups,
    },
    sessions: { maxAgeMs: durationMs(config.sessionMaxAge), idleMs: durationMs(config.sessionIdle) },
    keySignIn: !config.ssoOnly,
  };
}
