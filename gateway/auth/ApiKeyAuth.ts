// Bearer-key authentication and role checks for /v1 routes, with a short-lived cache of key lookups.
import type { Context, MiddlewareHandler } from "hono";
import { ForbiddenError, UnauthorizedError, UnavailableError } from "../errors.ts";
import type { KeyLimits } from "./RateLimiter.ts";

export type Role = "client" | "clinician" | "admin";

/** The identity behind a key, as routes see it. */
export type Caller = {
  keyId: string;
  name: string;
  role: Role;
  /** The key's own limits (null: no limit); one it does not set is its role's. Default: the role's */
  limits?: Partial<KeyLimits>;
  /** False when the key's conversations are never stored, as with `"store": false`. Default: true */
  storeText?: boolean;
};

/** Finds the unrevoked key with this secret (the store hashes it). */
export type ApiKeyLookup = (secret: string) => Promise<Caller | undefined>;

export type ApiKeyAuthOptions = {
  lookup: ApiKeyLookup;
  /** How long a lookup is reused; a revoked key stops working within this time. Default: 5000 ms */
  cacheTtlMs?: number;
  /** Entries kept in the cache. Default: 10000 */
  cacheSize?: number;
  now?: () => number;
};

/**
 * Authenticates callers by `Authorization: Bearer <key>`. Clients chat; clinicians chat and give
 * feedback; admins do everything. Missing, unknown or revoked keys get 401; a known key with too
 * low a role gets 403.
 */
export class ApiKeyAuth {
  readonly #lookup: ApiKeyLookup;
  readonly #ttlMs: number;
  readonly #size: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { caller: Caller | undefined; until: number }>();

  constructor(options: ApiKeyAuthOptions) {
    this.#lookup = options.lookup;
    this.#ttlMs = options.cacheTtlMs ?? 5_000;
    this.#size = options.cacheSize ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The caller behind a request's bearer key; throws 401 when there is none. */
  async authenticate(authorization: string | undefined): Promise<Caller> {
    const match = /^Bearer\s+(\S+)\s*$/iu.exec(authorization ?? "");
    if (!match) throw new UnauthorizedError("Missing API key: send it as `Authorization: Bearer <key>`.");
    const secret = match[1]!;
    const now = this.#now();
    let entry = this.#cache.get(secret);
    if (!entry || entry.until <= now) {
      let caller: Caller | undefined;
      try {
        caller = await this.#lookup(secret);
      } catch (error) {
        // The key store is unreachable: a key seen recently keeps working, so an outage of the database
        // does not stop serving; an unseen key cannot be checked.
        if (entry) return this.#admit(entry.caller);
        throw new UnavailableError(
          `API keys cannot be checked right now (${error instanceof Error ? error.message : String(error)}). Retry shortly.`,
        );
      }
      entry = { caller, until: now + this.#ttlMs };
      this.#cache.delete(secret);
      this.#cache.set(secret, entry);
      if (this.#cache.size > this.#size) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return this.#admit(entry.caller);
  }

  #admit(caller: Caller | undefined): Caller {
    if (!caller) throw new UnauthorizedError("Invalid or revoked API key.");
    return caller;
  }

  /** Throws 403 unless the caller has one of the roles. */
  assertRole(caller: Caller, ...roles: Role[]): void {
    if (!roles.includes(caller.role)) {
      throw new ForbiddenError(
        `This route needs a ${roles.join(" or ")} key; yours is a ${caller.role} key.`,
      );
    }
  }

  /** Middleware admitting only the given roles; the caller is left in the `caller` context variable. */
  require(...roles: Role[]): MiddlewareHandler<{ Variables: { caller: Caller } }> {
    return async (c: Context<{ Variables: { caller: Caller } }>, next) => {
      const caller = await this.authenticate(c.req.header("authorization"));
      if (!roles.includes(caller.role)) {
        throw new ForbiddenError(
          `This route needs a ${roles.join(" or ")} key; yours is a ${caller.role} key.`,
        );
      }
      c.set("caller", caller);
      await next();
    };
  }
}
