// Response-log rows the database refused, set aside on disk with the reason, listed and offered to the
// database again after a fix (`medgate logs rejected`, and each time a gateway's log opens).
import { join } from "node:path";
import { insertCompletions, reviveCompletionRow } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import { rowRefusal } from "../../db/databaseErrors.ts";
import type { NewCompletionRow } from "../../db/schema.ts";
import { CompletionSpool } from "./CompletionSpool.ts";

/** One refused row and why. */
export type RejectedCompletion = {
  id: string;
  /** When the database last refused it (ISO 8601). */
  rejectedAt: string;
  /** The SQLSTATE of the refusal, when the database gave one. */
  code: string | null;
  /** The database's message. */
  reason: string;
  row: NewCompletionRow;
};

export type RejectedReplay = {
  /** Rows the database took this time. */
  stored: number;
  /** Rows whose id was in the log already (a replay cut short before, or stored some other way). */
  alreadyStored: number;
  /** Rows refused again; they stay set aside with the new reason. */
  stillRefused: number;
};

/**
 * `<spoolDir>/rejected`: a spool folder of `RejectedCompletion` records. A gateway takes the folder only for
 * the moment of an append, so that `medgate logs rejected --replay` can take it beside a running gateway.
 */
export class RejectedCompletions {
  readonly dir: string;

  constructor(spoolDir: string) {
    this.dir = join(spoolDir, "rejected");
  }

  /** Sets rows aside, fsynced. Throws `SpoolLockedError` while a replay holds the folder. */
  async add(records: RejectedCompletion[]): Promise<void> {
    const spool = await CompletionSpool.open<RejectedCompletion>(this.dir);
    try {
      await spool.append(records);
    } finally {
      await spool[Symbol.asyncDispose]();
    }
  }

  /** Every row set aside, oldest refusal first, once per id. Reads without taking the folder. */
  async list(): Promise<RejectedCompletion[]> {
    const byId = new Map<string, RejectedCompletion>();
    for (const record of await CompletionSpool.records<RejectedCompletion | NewCompletionRow>(this.dir)) {
      const rejected = asRejected(record);
      byId.delete(rejected.id);
      byId.set(rejected.id, rejected);
    }
    return [...byId.values()];
  }

  /**
   * Offers every row to the database again, one at a time, idempotently by id. Rows refused again stay with
   * the new reason; any other failure (the database is down) stops the replay with the rows kept.
   */
  async replay(db: Database, now: () => Date = () => new Date()): Promise<RejectedReplay> {
    const result: RejectedReplay = { stored: 0, alreadyStored: 0, stillRefused: 0 };
    const spool = await CompletionSpool.open<RejectedCompletion>(this.dir);
    try {
      const seen = new Set<string>();
      await spool.replay(async (batch) => {
        const refusedAgain: RejectedCompletion[] = [];
        for (const record of batch.map(asRejected)) {
          // A row set aside twice (an interrupted replay re-appends before it deletes) is offered once.
          if (seen.has(record.id)) continue;
          seen.add(record.id);
          try {
            if ((await insertCompletions(db, [reviveCompletionRow(record.row)])) === 1) result.stored++;
            else result.alreadyStored++;
          } catch (error) {
            const refusal = rowRefusal(error);
            if (!refusal) throw error;
            refusedAgain.push(rejectedRecord(record.row, refusal, now()));
          }
        }
        // Written before the replay deletes the segment they came from, so a crash can only duplicate them.
        await spool.append(refusedAgain);
        result.stillRefused += refusedAgain.length;
      });
    } finally {
      await spool[Symbol.asyncDispose]();
    }
    return result;
  }
}

export function rejectedRecord(
  row: NewCompletionRow,
  refusal: { code: string | null; message: string },
  at: Date,
): RejectedCompletion {
  return { id: row.id, rejectedAt: at.toISOString(), code: refusal.code, reason: refusal.message, row };
}

/** Rows set aside by earlier versions are the bare row, with no reason recorded. */
function asRejected(record: RejectedCompletion | NewCompletionRow): RejectedCompletion {
  if ("row" in record && "rejectedAt" in record) return record;
  const row = record as NewCompletionRow;
  return {
    id: row.id,
    rejectedAt: new Date(String(row.createdAt)).toISOString(),
    code: null,
    reason: "refused by the database (the reason was not recorded)",
    row,
  };
}
