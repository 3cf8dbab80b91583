// Where the gateway's audit rows go: the database's hash-chained trail, committed before the read it records is
// answered; a read that cannot be recorded is refused (503 `audit_unavailable`).
import { type AuditEntry, appendAudit } from "../../db/auditTrail.ts";
import type { Database } from "../../db/createDatabase.ts";
import { ApiError } from "../errors.ts";

export type AuditTrail = {
  /** Resolves once the row is durable; rejects when it cannot be made so. */
  append(entry: AuditEntry): Promise<void>;
};

export function databaseAuditTrail(db: Database): AuditTrail {
  return {
    append: async (entry) => {
      await appendAudit(db, entry);
    },
  };
}

/**
 * Records nothing: only for `bench:audit`'s baseline, which measures the log API without the trail. A gateway that
 * serves patients always has the database's.
 */
export const unauditedTrail: AuditTrail = { append: () => Promise.resolve() };

/** A read whose audit row could not be written is not answered. */
export class AuditUnavailableError extends ApiError {
  constructor(options?: { cause?: unknown }) {
    super(
      503,
      "This read could not be recorded in the audit trail, so it is refused. Retry shortly.",
      "service_unavailable",
      null,
      "audit_unavailable",
      { "retry-after": "1" },
    );
    if (options) this.cause = options.cause;
  }
}
