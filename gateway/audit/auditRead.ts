// Appends the audit row of a request that returns stored text (or writes what the trail records): who (the key,
// or the signed-in person), the route as the API document names it, the completions and the query, and where the
// request came from. Routes call it after reading and before answering.
import type { Context } from "hono";
import { routePath } from "hono/route";
import type { AuditEntry } from "../../db/auditTrail.ts";
import type { GatewayEnv } from "../appTypes.ts";
import type { Caller } from "../auth/ApiKeyAuth.ts";
import { AuditUnavailableError } from "./AuditTrail.ts";

/** A caller as the audit names it: a key, or a person signed in through the identity provider. */
export type AuditedCaller = Caller & { person?: { subject: string; email?: string | null } };

/** Who made the request, as an audit row names them. */
export function actorOf(
  caller: AuditedCaller,
): Pick<AuditEntry, "actorKind" | "apiKeyId" | "actorName" | "personSubject" | "personEmail" | "role"> {
  return {
    actorKind: caller.person ? "person" : "key",
    apiKeyId: caller.person ? null : caller.keyId,
    actorName: caller.name,
    personSubject: caller.person?.subject ?? null,
    personEmail: caller.person?.email ?? null,
    role: caller.role,
  };
}

/** `GET /v1/chat/completions/{completion_id}`: the method and the route as the OpenAPI document writes it. */
export function actionOf(c: Context): string {
  let path: string;
  try {
    path = routePath(c);
  } catch {
    path = c.req.path;
  }
  return `${c.req.method} ${path.replace(/:([A-Za-z0-9_]+)/gu, "{$1}")}`;
}

/** The socket's peer; null where there is none (app.request() in tests). */
function clientAddressOf(c: Context): string | null {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? null;
}

/** The API's routes and the pages (whose context adds the signed-in caller) both record through this. */
export async function auditRead<E extends GatewayEnv>(
  c: Context<E>,
  caller: AuditedCaller,
  details: { completionIds?: string[]; query?: Record<string, unknown>; action?: string },
): Promise<void> {
  const { audit } = (c as unknown as Context<GatewayEnv>).get("deps");
  try {
    await audit.append({
      ...actorOf(caller),
      action: details.action ?? actionOf(c),
      completionIds: [...new Set(details.completionIds ?? [])],
      query: details.query ?? {},
      clientAddress: clientAddressOf(c),
      userAgent: c.req.header("user-agent") ?? null,
    });
  } catch (error) {
    throw new AuditUnavailableError({ cause: error });
  }
}
