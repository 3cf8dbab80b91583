// Server-side sessions of people signed in to the pages through the identity provider: absolute expiry, idle
// timeout and sign-out, kept in the database so that every gateway on it knows them and a sign-out ends the
// session everywhere at once.
import type { Database } from "../../db/createDatabase.ts";
import {
  deletePageSessionsOver,
  endPageSession,
  findLivePageSession,
  openPageSession,
  type SessionPerson,
  touchPageSession,
} from "../../db/pageSessions.ts";
import type { PageSessionRow } from "../../db/schema.ts";
import type { Caller } from "./ApiKeyAuth.ts";

export type PageSessionSettings = {
  /** How long a session lasts from sign-in, whatever its use. Default: 12 h */
  maxAgeMs?: number;
  /** How long a session lasts unused. Default: 30 min */
  idleMs?: number;
  now?: () => Date;
};

/** A person signed in to the pages, as routes and the audit trail see them. */
export type PersonCaller = Caller & { person: { subject: string; email: string | null } };

/** How long sessions stay in the table after they expired or ended (the audit trail keeps who signed in). */
const keepOverMs = 24 * 60 * 60 * 1000;

export class PageSessions {
  readonly maxAgeMs: number;
  readonly idleMs: number;
  readonly #db: Database;
  readonly #now: () => Date;

  constructor(db: Database, settings: PageSessionSettings = {}) {
    this.#db = db;
    this.maxAgeMs = settings.maxAgeMs ?? 12 * 60 * 60 * 1000;
    this.idleMs = settings.idleMs ?? 30 * 60 * 1000;
    this.#now = settings.now ?? (() => new Date());
  }

  /** Opens a session for `person`; returns the token for the cookie and the caller it stands for. */
  async open(person: SessionPerson): Promise<{ token: string; caller: PersonCaller }> {
    const now = this.#now();
    // Sessions long over are cleared here, where a row is written anyway, rather than by a timer.
    await deletePageSessionsOver(this.#db, new Date(now.getTime() - keepOverMs));
    const { session, token } = await openPageSession(this.#db, person, {
      now,
      expiresAt: new Date(now.getTime() + this.maxAgeMs),
    });
    return { token, caller: callerOf(session) };
  }

  /** The caller of a live session, restarting its idle timeout; undefined when it expired, idled or ended. */
  async resume(token: string): Promise<PersonCaller | undefined> {
    const now = this.#now();
    const session = await findLivePageSession(this.#db, token, {
      now,
      idleSince: new Date(now.getTime() - this.idleMs),
    });
    if (!session) return undefined;
    // One write per session and quarter of the idle timeout at most, not one per page view.
    if (now.getTime() - session.lastSeenAt.getTime() > Math.min(60_000, this.idleMs / 4)) {
      await touchPageSession(this.#db, session.id, now);
    }
    return callerOf(session);
  }

  /** Ends the session of a token (sign-out); returns whose it was, or undefined when it was not live. */
  async end(token: string): Promise<PersonCaller | undefined> {
    const session = await endPageSession(this.#db, token, this.#now());
    return session && callerOf(session);
  }
}

function callerOf(session: PageSessionRow): PersonCaller {
  return {
    keyId: session.personId,
    name: session.name,
    role: session.role,
    person: { subject: session.subject, email: session.email },
  };
}
