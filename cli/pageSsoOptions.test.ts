// serve's sign-in through the identity provider: options from variables and flags, checked together at start.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseServeConfig } from "./config.ts";
import { pageSsoOptions } from "./pageSsoOptions.ts";

const env = {
  MEDGATE_OIDC_ISSUER: "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0",
  MEDGATE_OIDC_CLIENT_ID: "medgate",
  MEDGATE_OIDC_CLIENT_SECRET: "s3cret",
  MEDGATE_OIDC_REDIRECT_URL: "https://medgate.example.org/auth/callback",
  MEDGATE_OIDC_CLINICIAN_GROUPS: "ward-7-clinicians, ed-clinicians",
  MEDGATE_OIDC_ADMIN_GROUPS: "medgate-admins",
};

describe("pageSsoOptions", () => {
  it("is off without an issuer, and then refuses the other sign-in options", async () => {
    expect(await pageSsoOptions(parseServeConfig({}, {}))).toBeUndefined();
    await expect(pageSsoOptions(parseServeConfig({ ssoOnly: true }, {}))).rejects.toThrow(
      /--sso-only needs --oidc-issuer/u,
    );
    await expect(pageSsoOptions(parseServeConfig({}, { MEDGATE_OIDC_CLIENT_ID: "medgate" }))).rejects.toThrow(
      /--oidc-client-id needs --oidc-issuer/u,
    );
  });

  it("reads the variables: groups as comma-separated lists, session lengths as durations, key sign-in on", async () => {
    const sso = await pageSsoOptions(parseServeConfig({}, env));
    expect(sso).toEqual({
      oidc: {
        issuer: new URL(env.MEDGATE_OIDC_ISSUER),
        clientId: "medgate",
        clientSecret: "s3cret",
        redirectUrl: new URL(env.MEDGATE_OIDC_REDIRECT_URL),
        scope: "openid profile email",
        groupsClaim: "groups",
        roleGroups: { clinician: ["ward-7-clinicians", "ed-clinicians"], admin: ["medgate-admins"] },
      },
      sessions: { maxAgeMs: 12 * 3_600_000, idleMs: 30 * 60_000 },
      keySignIn: true,
    });
    const strict = await pageSsoOptions(
      parseServeConfig({ ssoOnly: true, sessionMaxAge: "8h", sessionIdle: "15m" }, env),
    );
    expect(strict).toMatchObject({
      sessions: { maxAgeMs: 8 * 3_600_000, idleMs: 15 * 60_000 },
      keySignIn: false,
    });
    expect(() => parseServeConfig({ sessionIdle: "soon" }, env)).toThrow(
      /--session-idle \(or MEDGATE_SESSION_IDLE\)/u,
    );
  });

  it("reads the client secret from a file, and wants it exactly once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "medgate-sso-"));
    try {
      const file = join(dir, "secret");
      await writeFile(file, "from-a-file\n");
      const { MEDGATE_OIDC_CLIENT_SECRET: _, ...withoutSecret } = env;
      const sso = await pageSsoOptions(parseServeConfig({ oidcClientSecretFile: file }, withoutSecret));
      expect(sso?.oidc.clientSecret).toBe("from-a-file");
      await expect(pageSsoOptions(parseServeConfig({}, withoutSecret))).rejects.toThrow(
        /MEDGATE_OIDC_CLIENT_SECRET or --oidc-client-secret-file/u,
      );
      await expect(pageSsoOptions(parseServeConfig({ oidcClientSecretFile: file }, env))).rejects.toThrow(
        /Give the client secret once/u,
      );
      await expect(
        pageSsoOptions(parseServeConfig({ oidcClientSecretFile: join(dir, "missing") }, withoutSecret)),
      ).rejects.toThrow(ConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a redirect URL other than /auth/callback, plain http off this machine, and no groups at all", async () => {
    await expect(
      pageSsoOptions(parseServeConfig({ oidcRedirectUrl: "https://medgate.example.org/callback" }, env)),
    ).rejects.toThrow(/--oidc-redirect-url must be this gateway's \/auth\/callback/u);
    await expect(
      pageSsoOptions(parseServeConfig({ oidcIssuer: "http://idp.example.org/realms/hospital" }, env)),
    ).rejects.toThrow(/must be an https URL/u);
    const local = await pageSsoOptions(
      parseServeConfig({ oidcIssuer: "http://localhost:8081/realms/hospital" }, env),
    );
    expect(local?.oidc.issuer.href).toBe("http://localhost:8081/realms/hospital");
    const { MEDGATE_OIDC_CLINICIAN_GROUPS: _, MEDGATE_OIDC_ADMIN_GROUPS: __, ...noGroups } = env;
    await expect(pageSsoOptions(parseServeConfig({}, noGroups))).rejects.toThrow(/nobody could sign in/u);
  });
});
