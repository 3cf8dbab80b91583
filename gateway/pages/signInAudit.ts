// The audit rows of signing in to and out of the pages: who (the key, or the person the identity provider named),
// what happened, and from where. A sign-in the trail cannot record is refused (503), as a read is.
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import type { AuditEntry } from "../../db/auditTrail.ts";
import type { GatewayEnv } from "../appTypes.ts";
import { AuditUnavailableError } from "../audit/AuditTrail.ts";
import { type AuditedCaller, actorOf } from "../audit/auditRead.ts";

export type SignInAction = "sign-in" | "sign-in refused" | "sign-out";

/** Someone the identity provider named but medgate gave no role: the audit names them all the same. */
export type RefusedPerson = { subject: string | null; email: string | null };

export async function auditSignIn<E extends GatewayEnv>(
  c: Context<E>,
  action: SignInAction,
  who: AuditedCaller | RefusedPerson,
  details: Record<string, unknown>,
): Promise<void> {
  const actor: Pick<
    AuditEntry,
    "actorKind" | "apiKeyId" | "actorName" | "personSubject" | "personEmail" | "role"
  > =
    "keyId" in who
      ? actorOf(who)
      : {
          actorKind: "person",
          actorName: who.email ?? who.subject,
          personSubject: who.subject,
          personEmail: who.email,
          role: "none",
        };
  try {
    await (c as unknown as Context<GatewayEnv>).get("deps").audit.append({
      ...actor,
      action,
      query: details,
      clientAddress: clientAddressOf(c),
      userAgent: c.req.header("user-agent") ?? null,
    });
  } catch (error) {
    throw new AuditUnavailableError({ cause: error });
  }
}

/** The socket's peer; null where there is none (app.request() in tests). */
function clientAddressOf(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}
