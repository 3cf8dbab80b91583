// Signing in to the pages through app.request(), with injected services: the /auth routes without a provider, a
// provider that cannot be reached, callbacks that never started in this browser, and the key form switched off.
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../db/auditTrail.ts";
import type { Database } from "../../db/createDatabase.ts";
import { ApiKeyAuth } from "../auth/ApiKeyAuth.ts";
import { OidcSignIn } from "../auth/OidcSignIn.ts";
import { PageSessions } from "../auth/PageSessions.ts";
import type { PageSso } from "../auth/PageSso.ts";
import { createApp } from "../createApp.ts";
import { stubGatewayDeps } from "../stubGatewayDeps.ts";

const audited: AuditEntry[] = [];
const deps = stubGatewayDeps({
  auth: new ApiKeyAuth({
    lookup: async (secret) =>
      secret === "clinician-key" ? { keyId: "k2", name: "Dr. Key", role: "clinician" } : undefined,
  }),
  audit: { append: async (entry: AuditEntry) => void audited.push(entry) },
});

/** A provider nothing listens for; the sessions are never reached by these requests. */
function sso(keySignIn: boolean): PageSso {
  return {
    oidc: new OidcSignIn({
      issuer: new URL("http://127.0.0.1:1/realms/hospital"),
      clientId: "medgate",
      clientSecret: "s3cret",
      redirectUrl: new URL("https://medgate.example.org/auth/callback"),
      roleGroups: { clinician: ["clinicians"], admin: [] },
    }),
    sessions: new PageSessions({} as Database),
    keySignIn,
  };
}

describe("the /auth routes", () => {
  it("are a 404 in OpenAI's shape without an identity provider, and the form takes keys as before", async () => {
    const app = createApp(deps);
    for (const path of ["/auth/login", "/auth/callback?code=x&state=y"]) {
      const response = await app.request(path);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error" } });
    }
    const form = await (await app.request("/review/login")).text();
    expect(form).toContain('name="key"');
    expect(form).not.toContain("/auth/login");
  });

  it("say plainly that the provider cannot be reached, and refuse a page other than review or admin", async () => {
    const app = createApp({ ...deps, sso: sso(true) });
    const unreachable = await app.request("/auth/login?to=admin");
    expect(unreachable.status).toBe(503);
    expect(await unreachable.json()).toMatchObject({
      error: { type: "service_unavailable", code: "identity_provider_unavailable" },
    });
    for (const to of ["https://evil.example", "toString", "__proto__"]) {
      const elsewhere = await app.request(`/auth/login?to=${encodeURIComponent(to)}`);
      expect(elsewhere.status, to).toBe(400);
      expect(await elsewhere.json()).toMatchObject({ error: { param: "to", code: "invalid_value" } });
    }
  });

  it("refuse a callback without a pending sign-in of this browser, or with a forged one, and audit nothing", async () => {
    const app = createApp({ ...deps, sso: sso(true) });
    const before = audited.length;
    for (const cookie of [undefined, "medgate_sign_in=eyJzdGF0ZSI6IngifQ.forged-mac"]) {
      const response = await app.request("/auth/callback?code=x&state=y", {
        headers: cookie ? { cookie } : {},
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain("This sign-in expired or was not started in this browser.");
      expect(response.headers.get("set-cookie")).toMatch(
        /^medgate_sign_in=; Max-Age=0; Path=\/auth\/callback/u,
      );
    }
    expect(audited.length).toBe(before);
  });
});

describe("the pages' sign-in form", () => {
  it("offers the provider and a key, or the provider only", async () => {
    const both = await (await createApp({ ...deps, sso: sso(true) }).request("/review/login")).text();
    expect(both).toContain('href="/auth/login?to=review"');
    expect(both).toContain('name="key"');
    const app = createApp({ ...deps, sso: sso(false) });
    const only = await (await app.request("/admin/login")).text();
    expect(only).toContain('href="/auth/login?to=admin"');
    expect(only).not.toContain('name="key"');
    const posted = await app.request("/review/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "key=clinician-key",
    });
    expect(posted.status).toBe(403);
    expect(posted.headers.get("set-cookie")).toBeNull();
    const keyCookie = await app.request("/review", { headers: { cookie: "medgate_review=clinician-key" } });
    expect(keyCookie.status).toBe(302);
    expect(keyCookie.headers.get("location")).toBe("/review/login");
  });
});
