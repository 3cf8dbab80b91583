// The role a person's groups give, and where the groups are read from in a provider's claims.
import { describe, expect, it } from "vitest";
import { groupsIn, OidcSignIn, roleOfGroups } from "./OidcSignIn.ts";

const roleGroups = { clinician: ["clinicians", "/hospital/ward-7"], admin: ["medgate-admins"] };

describe("roleOfGroups", () => {
  it("gives the highest role any group gives, and none for other groups", () => {
    expect(roleOfGroups(["clinicians"], roleGroups)).toBe("clinician");
    expect(roleOfGroups(["/hospital/ward-7", "medgate-admins"], roleGroups)).toBe("admin");
    expect(roleOfGroups(["finance", "Clinicians"], roleGroups)).toBeUndefined();
    expect(roleOfGroups([], roleGroups)).toBeUndefined();
  });
});

describe("groupsIn", () => {
  it("reads a list or a single string, at a dotted path", () => {
    expect(groupsIn({ groups: ["a", "b", 3] }, "groups")).toEqual(["a", "b"]);
    expect(groupsIn({ roles: "clinicians" }, "roles")).toEqual(["clinicians"]);
    expect(groupsIn({ realm_access: { roles: ["medgate-admins"] } }, "realm_access.roles")).toEqual([
      "medgate-admins",
    ]);
    expect(groupsIn({ sub: "x" }, "groups")).toBeUndefined();
    expect(groupsIn({ realm_access: "none" }, "realm_access.roles")).toBeUndefined();
  });
});

describe("OidcSignIn", () => {
  it("refuses a plain http issuer off this machine", () => {
    const settings = {
      clientId: "medgate",
      clientSecret: "s",
      redirectUrl: new URL("https://medgate.example.org/auth/callback"),
      roleGroups,
    };
    expect(() => new OidcSignIn({ ...settings, issuer: new URL("http://idp.example.org") })).toThrow(
      /https/u,
    );
    expect(new OidcSignIn({ ...settings, issuer: new URL("http://127.0.0.1:9000") }).settings).toMatchObject({
      scope: "openid profile email",
      groupsClaim: "groups",
    });
  });
});
