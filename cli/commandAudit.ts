// The audit row of a command run on the database: the operator (user@host), the command, what it named. A command
// that prints stored text appends its row before printing, so a read the trail cannot record prints nothing.
import { type AuditEntry, appendAudit } from "../db/auditTrail.ts";
import type { Database } from "../db/createDatabase.ts";
import { operator } from "./config.ts";

export function commandAuditEntry(
  action: string,
  details: { completionIds?: string[]; query?: Record<string, unknown> } = {},
): AuditEntry {
  return {
    actorKind: "cli",
    actorName: operator(),
    role: "operator",
    action,
    completionIds: details.completionIds ?? [],
    query: details.query ?? {},
  };
}

export async function appendCommandAudit(
  db: Database,
  action: string,
  details: { completionIds?: string[]; query?: Record<string, unknown> } = {},
): Promise<void> {
  await appendAudit(db, commandAuditEntry(action, details));
}
