// The audit trail: appending a hash-chained row (serialized by the chain head's row lock, so every gateway and
// command on one database extends one chain), verifying the chain, listing rows, and pruning past retention.
import { createHash } from "node:crypto";
import { and, arrayContains, asc, desc, eq, gt, gte, lt, or, sql } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { toStorableJson, toStorableText } from "./losslessText.ts";
import { type AuditEventRow, auditChainHead, auditEvents } from "./schema.ts";

/** The previous hash of the first row of a chain. */
export const genesisHash = "0".repeat(64);

/** The action of a prune's row; the latest one anchors where the kept chain starts. */
export const auditPruneAction = "medgate audit prune";

/** What an audit row says; the chain fields (seq, at, prev_hash, hash) are added when it is appended. */
export type AuditEntry = {
  actorKind: "key" | "person" | "cli" | "system";
  apiKeyId?: string | null;
  actorName?: string | null;
  personSubject?: string | null;
  personEmail?: string | null;
  role: string;
  action: string;
  completionIds?: string[];
  query?: Record<string, unknown>;
  clientAddress?: string | null;
  userAgent?: string | null;
};

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/** JSON with object keys sorted at every level, so a jsonb column (which reorders keys) hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The sha256 (hex) of a row's content, without its place in the chain (seq and previous hash). */
export function auditContentDigest(row: Omit<AuditEventRow, "seq" | "prevHash" | "hash">): string {
  const content = [
    row.at.toISOString(),
    row.actorKind,
    row.apiKeyId,
    row.actorName,
    row.personSubject,
    row.personEmail,
    row.role,
    row.action,
    row.completionIds,
    row.query,
    row.clientAddress,
    row.userAgent,
  ];
  return createHash("sha256").update(canonicalJson(content)).digest("hex");
}

/**
 * A row's hash: sha256 (hex) of `previous hash:seq:content digest`. The database computes the same when it
 * appends (so the chain head is locked for one statement only); verification recomputes it here.
 */
export function auditHash(row: Omit<AuditEventRow, "hash">): string {
  return createHash("sha256")
    .update(`${row.prevHash}:${row.seq}:${auditContentDigest(row)}`)
    .digest("hex");
}

/** Locks the chain head (creating it on the first append) and returns it; appends wait here for each other. */
async function lockHead(tx: Transaction): Promise<{ lastSeq: number; lastHash: string }> {
  const [head] = await tx.select().from(auditChainHead).where(eq(auditChainHead.id, 1)).for("update");
  if (head) return head;
  await createHead(tx);
  const [created] = await tx.select().from(auditChainHead).where(eq(auditChainHead.id, 1)).for("update");
  return created!;
}

async function createHead(db: Database | Transaction): Promise<void> {
  await db.insert(auditChainHead).values({ id: 1, lastSeq: 0, lastHash: genesisHash }).onConflictDoNothing();
}

/**
 * Appends `entry` in one statement: it locks the chain head's row, takes the next seq and the last hash, computes
 * the row's hash, inserts the row and moves the head on; the lock is held until the statement's transaction
 * commits (at once with `db`, or when the caller's transaction `tx` does).
 */
export async function appendAuditIn(
  db: Database | Transaction,
  entry: AuditEntry,
  now: Date = new Date(),
): Promise<AuditEventRow> {
  const content: Omit<AuditEventRow, "seq" | "prevHash" | "hash"> = {
    // Milliseconds, as JavaScript dates hold them, so the stored value hashes the same when read back.
    at: new Date(now.getTime()),
    actorKind: entry.actorKind,
    // A key id that is not a uuid (an injected key store's) cannot go to the uuid column; its name still does.
    apiKeyId: entry.apiKeyId && uuidPattern.test(entry.apiKeyId) ? entry.apiKeyId.toLowerCase() : null,
    actorName: entry.actorName ?? null,
    personSubject: entry.personSubject ?? null,
    personEmail: entry.personEmail ?? null,
    role: entry.role,
    action: entry.action,
    completionIds: entry.completionIds ?? [],
    query: entry.query ?? {},
    clientAddress: entry.clientAddress ?? null,
    userAgent: entry.userAgent ?? null,
  };
  const digest = auditContentDigest(content);
  const text = (value: string | null) => (value === null ? null : toStorableText(value));
  const statement = sql`
    with head as (
      select last_seq + 1 as seq, last_hash as prev_hash,
        encode(sha256(convert_to(last_hash || ':' || (last_seq + 1)::text || ':' || ${digest}::text, 'UTF8')), 'hex') as hash
      from audit_chain_head where id = 1 for update
    ), moved as (
      update audit_chain_head set last_seq = head.seq, last_hash = head.hash from head where audit_chain_head.id = 1
    )
    insert into audit_events (seq, at, actor_kind, api_key_id, actor_name, person_subject, person_email, role, action,
      completion_ids, query, client_address, user_agent, prev_hash, hash)
    select head.seq, ${content.at.toISOString()}::timestamptz, ${content.actorKind}, ${content.apiKeyId}::uuid,
      ${text(content.actorName)}, ${text(content.personSubject)}, ${text(content.personEmail)}, ${content.role},
      ${text(content.action)}, array(select jsonb_array_elements_text(${JSON.stringify(content.completionIds)}::jsonb)),
      ${JSON.stringify(toStorableJson(content.query))}::jsonb, ${content.clientAddress}, ${text(content.userAgent)},
      head.prev_hash, head.hash
    from head
    returning seq, prev_hash, hash`;
  for (let attempt = 0; ; attempt++) {
    const { rows } = (await db.execute(statement)) as unknown as {
      rows: { seq: string | number; prev_hash: string; hash: string }[];
    };
    const [appended] = rows;
    if (appended) {
      return { ...content, seq: Number(appended.seq), prevHash: appended.prev_hash, hash: appended.hash };
    }
    // The first append of the database: no head yet.
    if (attempt > 0) throw new Error("The audit trail's chain head could not be created.");
    await createHead(db);
  }
}

/** Appends one row in a statement of its own; it resolves once the row is committed. */
export function appendAudit(db: Database, entry: AuditEntry, now?: Date): Promise<AuditEventRow> {
  return appendAuditIn(db, entry, now);
}

export type AuditFilter = {
  /** Rows at or after this time. */
  since?: Date;
  /** A key's id or name, or a person's subject or email. */
  actor?: string;
  /** Rows that name this completion. */
  completion?: string;
  /** Rows after this seq (paging). */
  afterSeq?: number;
  limit?: number;
  order?: "asc" | "desc";
};

export async function listAuditEvents(db: Database, filter: AuditFilter = {}): Promise<AuditEventRow[]> {
  const actor = filter.actor;
  const conditions = [
    filter.since ? gte(auditEvents.at, filter.since) : undefined,
    actor === undefined
      ? undefined
      : or(
          uuidPattern.test(actor) ? eq(auditEvents.apiKeyId, actor) : undefined,
          eq(auditEvents.actorName, actor),
          eq(auditEvents.personSubject, actor),
          eq(auditEvents.personEmail, actor),
        ),
    filter.completion === undefined
      ? undefined
      : arrayContains(auditEvents.completionIds, [filter.completion]),
    filter.afterSeq === undefined ? undefined : gt(auditEvents.seq, filter.afterSeq),
  ];
  return db
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(filter.order === "desc" ? desc(auditEvents.seq) : asc(auditEvents.seq))
    .limit(filter.limit ?? 1000);
}

/** The first fault of a chain, by the seq where it shows. */
export type AuditChainFault = {
  seq: number;
  kind: "missing" | "edited" | "broken-link" | "head";
  message: string;
};

export type AuditVerification = {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The last row's hash: recorded elsewhere, it lets a later verification prove nothing was rewritten since. */
  lastHash: string;
  fault?: AuditChainFault;
};

type PruneAnchor = { firstKeptSeq: number; firstKeptPrevHash: string };

/**
 * Walks the chain in seq order: each row's hash must be its content's, its previous hash the row before's, and
 * seq must go up by one. It starts at seq 1 from the genesis hash, or, after a prune, where the latest prune's
 * row says the kept chain starts; the chain head must name the last row.
 */
export async function verifyAuditChain(db: Database, pageSize = 5000): Promise<AuditVerification> {
  const [anchorRow] = await db
    .select()
    .from(auditEvents)
    .where(eq(auditEvents.action, auditPruneAction))
    .orderBy(desc(auditEvents.seq))
    .limit(1);
  const anchor = anchorRow?.query as PruneAnchor | undefined;
  let expectedSeq = anchor?.firstKeptSeq ?? 1;
  let expectedPrev = anchor?.firstKeptPrevHash ?? genesisHash;
  let rows = 0;
  let firstSeq: number | null = null;
  const result = (fault?: AuditChainFault): AuditVerification => ({
    ok: fault === undefined,
    rows,
    firstSeq,
    lastSeq: rows === 0 ? null : expectedSeq - 1,
    lastHash: expectedPrev,
    ...(fault ? { fault } : {}),
  });
  let afterSeq = 0;
  for (;;) {
    const page = await db
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.seq, afterSeq))
      .orderBy(asc(auditEvents.seq))
      .limit(pageSize);
    for (const row of page) {
      firstSeq ??= row.seq;
      if (row.seq !== expectedSeq) {
        const kind = row.seq > expectedSeq ? "missing" : "broken-link";
        return result({
          seq: expectedSeq,
          kind,
          message:
            row.seq > expectedSeq
              ? `Row ${expectedSeq}${row.seq - 1 > expectedSeq ? ` to ${row.seq - 1}` : ""} is missing (the next row is ${row.seq}).`
              : `Row ${row.seq} comes where row ${expectedSeq} was expected (the chain starts at ${expectedSeq}).`,
        });
      }
      const { hash, ...content } = row;
      if (auditHash(content) !== hash) {
        return result({
          seq: row.seq,
          kind: "edited",
          message: `Row ${row.seq} does not match its hash: it was changed after it was written.`,
        });
      }
      if (row.prevHash !== expectedPrev) {
        return result({
          seq: row.seq,
          kind: "broken-link",
          message: `Row ${row.seq} does not follow row ${row.seq - 1}: its previous hash is not that row's hash.`,
        });
      }
      rows += 1;
      expectedSeq = row.seq + 1;
      expectedPrev = hash;
    }
    if (page.length < pageSize) break;
    afterSeq = page.at(-1)!.seq;
  }
  const [head] = await db.select().from(auditChainHead).where(eq(auditChainHead.id, 1));
  const lastSeq = expectedSeq - 1;
  if (head && (head.lastSeq !== lastSeq || head.lastHash !== expectedPrev)) {
    return result({
      seq: head.lastSeq > lastSeq ? lastSeq + 1 : head.lastSeq,
      kind: head.lastSeq > lastSeq ? "missing" : "head",
      message:
        head.lastSeq > lastSeq
          ? `Row ${lastSeq + 1}${head.lastSeq > lastSeq + 1 ? ` to ${head.lastSeq}` : ""} is missing: the chain's head names row ${head.lastSeq}.`
          : `The chain's head names row ${head.lastSeq} with another hash than the last row's (${lastSeq}).`,
    });
  }
  if (!head && rows > 0) {
    return result({ seq: lastSeq, kind: "head", message: "The chain's head row is missing." });
  }
  return result();
}

/**
 * Deletes the rows older than `before` (the oldest rows of the chain up to the first one at or after it, so no
 * newer row goes) and appends `entry`, the prune's own row, whose query anchors the kept chain: the first kept
 * row's seq and previous hash. One transaction, under the chain head's lock. Returns how many rows went.
 */
export async function pruneAuditEvents(
  db: Database,
  before: Date,
  entry: AuditEntry,
  now?: Date,
): Promise<{ deleted: number; row: AuditEventRow }> {
  return db.transaction(async (tx) => {
    const head = await lockHead(tx);
    const [firstNewer] = await tx
      .select({ seq: auditEvents.seq, prevHash: auditEvents.prevHash })
      .from(auditEvents)
      .where(gte(auditEvents.at, before))
      .orderBy(asc(auditEvents.seq))
      .limit(1);
    // Nothing newer kept: the prune's own row is the first of the kept chain.
    const keep = firstNewer ?? { seq: head.lastSeq + 1, prevHash: head.lastHash };
    const deleted = await tx
      .delete(auditEvents)
      .where(lt(auditEvents.seq, keep.seq))
      .returning({ seq: auditEvents.seq });
    const row = await appendAuditIn(
      tx,
      {
        ...entry,
        action: auditPruneAction,
        query: {
          ...entry.query,
          before: before.toISOString(),
          deleted: deleted.length,
          firstKeptSeq: keep.seq,
          firstKeptPrevHash: keep.prevHash,
        },
      },
      now,
    );
    return { deleted: deleted.length, row };
  });
}

/** How many rows the trail holds, for reports. */
export async function countAuditEvents(db: Database): Promise<number> {
  const [row] = await db.select({ count: sql<number>`count(*)::int` }).from(auditEvents);
  return row?.count ?? 0;
}
