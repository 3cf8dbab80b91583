// Queries of the page_sessions table: open a session (its token is returned once and only its hash is kept), find
// the live session of a token, note it was seen, end it, and delete sessions long over.
import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Database } from "./createDatabase.ts";
import { type PageSessionRow, pageSessions } from "./schema.ts";

/** Hex sha256 of a session token, the only form in which it is stored. */
export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The person a session belongs to, as the identity provider names them. */
export type SessionPerson = {
  issuer: string;
  subject: string;
  email: string | null;
  name: string;
  role: PageSessionRow["role"];
};

/**
 * A person's id at medgate: a uuid derived from the issuer and the subject (the stable pair OpenID Connect names a
 * person by), so that their feedback and their sessions carry the same id at every sign-in.
 */
export function personIdOf(issuer: string, subject: string): string {
  const hex = createHash("sha256").update(`${issuer}\n${subject}`).digest("hex");
  // Shaped as an RFC 9562 version 8 (custom) uuid, variant 10.
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Opens a session ending at `expiresAt`; returns its row and the token for the cookie (never stored). */
export async function openPageSession(
  db: Database,
  person: SessionPerson,
  times: { now: Date; expiresAt: Date },
): Promise<{ session: PageSessionRow; token: string }> {
  const token = randomBytes(32).toString("base64url");
  const [session] = await db
    .insert(pageSessions)
    .values({
      tokenHash: hashSessionToken(token),
      personId: personIdOf(person.issuer, person.subject),
      ...person,
      createdAt: times.now,
      lastSeenAt: times.now,
      expiresAt: times.expiresAt,
    })
    .returning();
  return { session: session!, token };
}

/**
 * The session of a token that is neither ended nor past its expiry nor idle since `idleSince`; undefined
 * otherwise.
 */
export async function findLivePageSession(
  db: Database,
  token: string,
  at: { now: Date; idleSince: Date },
): Promise<PageSessionRow | undefined> {
  const [session] = await db
    .select()
    .from(pageSessions)
    .where(
      and(
        eq(pageSessions.tokenHash, hashSessionToken(token)),
        isNull(pageSessions.endedAt),
        gt(pageSessions.expiresAt, at.now),
        gt(pageSessions.lastSeenAt, at.idleSince),
      ),
    );
  return session;
}

/** Notes that a session was used at `now`, restarting its idle timeout. */
export async function touchPageSession(db: Database, id: string, now: Date): Promise<void> {
  await db.update(pageSessions).set({ lastSeenAt: now }).where(eq(pageSessions.id, id));
}

/** Ends the unended session of a token; returns it, or undefined when there was none. */
export async function endPageSession(
  db: Database,
  token: string,
  now: Date,
): Promise<PageSessionRow | undefined> {
  const [session] = await db
    .update(pageSessions)
    .set({ endedAt: now })
    .where(and(eq(pageSessions.tokenHash, hashSessionToken(token)), isNull(pageSessions.endedAt)))
    .returning();
  return session;
}

/** Deletes sessions that expired or ended before `before`; returns how many. */
export async function deletePageSessionsOver(db: Database, before: Date): Promise<number> {
  const deleted = await db
    .delete(pageSessions)
    .where(or(lt(pageSessions.expiresAt, before), lt(pageSessions.endedAt, before)))
    .returning({ id: pageSessions.id });
  return deleted.length;
}
