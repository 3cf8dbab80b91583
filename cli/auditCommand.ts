// `medgate audit verify|list|export|prune`: the audit trail of reads of stored text and of the writes that matter.
// verify walks the hash chain and names the first broken or missing link; list and export answer "who saw this
// patient's conversation" (and are recorded themselves); prune deletes rows past the trail's own retention only.
import { z } from "zod";
import { type AuditFilter, listAuditEvents, pruneAuditEvents, verifyAuditChain } from "../db/auditTrail.ts";
import type { AuditEventRow } from "../db/schema.ts";
import { appendCommandAudit, commandAuditEntry } from "./commandAudit.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, type DatabaseConfig, databaseOptions, option } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const dayMs = 86_400_000;

/** Milliseconds of an age such as 6y, 90d, 12h or 30m (a year is 365 days). */
export function auditAgeMs(text: string, flag: string): number {
  const match = /^(\d+)([ydhm])$/u.exec(text.trim());
  if (!match)
    throw new ConfigError(`${flag} takes a number and a unit (y, d, h or m), like 6y; got "${text}".`);
  const unit = { y: 365 * dayMs, d: dayMs, h: 3_600_000, m: 60_000 }[match[2] as "y" | "d" | "h" | "m"];
  return Number(match[1]) * unit;
}

/** `--since`: an ISO date or time, or an age such as 30d (that long ago). */
function sinceOf(text: string): Date {
  if (/^\d+[ydhm]$/u.test(text.trim())) return new Date(Date.now() - auditAgeMs(text, "--since"));
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    throw new ConfigError(`--since takes an ISO date or time (2026-01-31) or an age (30d); got "${text}".`);
  return date;
}

export const auditCommand = defineCommand({
  usage: `Usage:
  medgate audit verify                          walk the hash chain; exit 1 at the first broken or missing link
  medgate audit list [--since T] [--actor A] [--completion ID] [--limit N]
                                                rows, oldest first: when, who, role, what, completions, from where
  medgate audit export [--since T] [--actor A] [--completion ID]
                                                every matching row whole, one JSON object per line
  medgate audit prune --older-than AGE          delete rows older than AGE, never younger than the retention

Every read of stored text (API routes, review and admin pages, commands) and every write that matters (keys,
retention runs, promotions) appends one row: who (key id and name, or the signed-in person), role, what (route or
command, completion ids, query), when and from where, with a sha256 over its content and the previous row's hash.
--actor matches a key's id or name, a person's subject or email, or an operator's user@host. list, export and
prune are themselves recorded. The retention (MEDGATE_AUDIT_RETENTION) is its own setting: logs prune never
deletes audit rows.`,
  options: z.object({
    since: option(z.string().optional(), {
      help: "Rows at or after this time: an ISO date or time, or an age such as 30d",
      value: "T",
      env: false,
    }),
    actor: option(z.string().optional(), {
      help: "Rows of this key (id or name), person (subject or email) or operator",
      value: "A",
      env: false,
    }),
    completion: option(z.string().optional(), {
      help: "Rows that name this completion id",
      value: "ID",
      env: false,
    }),
    limit: option(z.coerce.number().int().positive().default(100), {
      help: "With list: most rows shown",
      value: "N",
      env: false,
    }),
    olderThan: option(z.string().optional(), {
      help: "With prune: the age, like 7y",
      value: "AGE",
      env: false,
    }),
    auditRetention: option(z.string().default("6y"), {
      help: "The youngest age audit prune may delete (y, d, h or m); 6 years as HIPAA keeps documentation",
      value: "AGE",
    }),
    ...databaseOptions,
  }),
  positionals: true,
  run: (options, [action]) => audit(action, options),
});

type AuditArgs = DatabaseConfig & {
  since?: string;
  actor?: string;
  completion?: string;
  limit: number;
  olderThan?: string;
  auditRetention: string;
};

function filterOf(args: AuditArgs): AuditFilter {
  return {
    ...(args.since === undefined ? {} : { since: sinceOf(args.since) }),
    ...(args.actor === undefined ? {} : { actor: args.actor }),
    ...(args.completion === undefined ? {} : { completion: args.completion }),
  };
}

/** The filters as the command's own audit row records them. */
function queryOf(args: AuditArgs): Record<string, unknown> {
  return {
    ...(args.since === undefined ? {} : { since: args.since }),
    ...(args.actor === undefined ? {} : { actor: args.actor }),
    ...(args.completion === undefined ? {} : { completion: args.completion }),
  };
}

async function audit(action: string | undefined, args: AuditArgs): Promise<number> {
  switch (action) {
    case "verify": {
      const result = await withDatabase(args, (db) => verifyAuditChain(db));
      if (!result.ok) {
        console.log(`broken at row ${result.fault!.seq} (${result.fault!.kind}): ${result.fault!.message}`);
        console.error(
          `medgate: the audit trail does not verify; ${result.rows} row(s) before the fault verified.`,
        );
        return 1;
      }
      console.log(
        result.rows === 0
          ? "ok: the audit trail is empty"
          : `ok: ${result.rows} row(s), ${result.firstSeq} to ${result.lastSeq}, last hash ${result.lastHash}`,
      );
      return 0;
    }
    case "list": {
      const rows = await withDatabase(args, async (db) => {
        const found = await listAuditEvents(db, { ...filterOf(args), limit: args.limit });
        await appendCommandAudit(db, "medgate audit list", { query: queryOf(args) });
        return found;
      });
      console.log(["seq", "at", "who", "role", "what", "completions", "from"].join("\t"));
      for (const row of rows) console.log(listLine(row));
      return 0;
    }
    case "export": {
      await withDatabase(args, async (db) => {
        await appendCommandAudit(db, "medgate audit export", { query: queryOf(args) });
        const filter = filterOf(args);
        for (let afterSeq = 0; ; ) {
          const page = await listAuditEvents(db, { ...filter, afterSeq, limit: 1000 });
          for (const row of page) console.log(JSON.stringify(row));
          if (page.length < 1000) break;
          afterSeq = page.at(-1)!.seq;
        }
      });
      return 0;
    }
    case "prune": {
      if (!args.olderThan) throw new ConfigError("audit prune needs --older-than AGE, like 7y.");
      const age = auditAgeMs(args.olderThan, "--older-than");
      const retention = auditAgeMs(args.auditRetention, "--audit-retention");
      if (age < retention) {
        throw new ConfigError(
          `audit prune --older-than ${args.olderThan} would delete rows younger than the audit trail's retention (${args.auditRetention}, --audit-retention or MEDGATE_AUDIT_RETENTION); nothing was deleted.`,
        );
      }
      const before = new Date(Date.now() - age);
      const { deleted, row } = await withDatabase(args, (db) =>
        pruneAuditEvents(
          db,
          before,
          commandAuditEntry("medgate audit prune", {
            query: { olderThan: args.olderThan, retention: args.auditRetention },
          }),
        ),
      );
      console.error(
        `medgate: deleted ${deleted} audit row(s) before ${before.toISOString()}; row ${row.seq} records the prune and anchors the kept chain.`,
      );
      console.log(deleted);
      return 0;
    }
    default:
      throw new ConfigError(
        'Usage: medgate audit verify | list | export | prune (see "medgate audit --help").',
      );
  }
}

function listLine(row: AuditEventRow): string {
  const who = row.personEmail ?? row.personSubject ?? row.actorName ?? row.apiKeyId ?? "-";
  const key = row.apiKeyId ? ` (${row.apiKeyId})` : "";
  return [
    row.seq,
    row.at.toISOString(),
    `${who}${key}`,
    row.role,
    Object.keys(row.query).length > 0 ? `${row.action} ${JSON.stringify(row.query)}` : row.action,
    row.completionIds.length > 0 ? row.completionIds.join(",") : "-",
    [row.clientAddress, row.userAgent].filter(Boolean).join(" ") || "-",
  ].join("\t");
}
