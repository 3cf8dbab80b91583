// The upstreams of one served name: least outstanding requests (per weight) among the healthy ones, each
// within its concurrency limit; active health checks, and passive ejection after consecutive failures.
import { OverloadedError } from "../../inference/errors.ts";
import { UnavailableError } from "../errors.ts";
import type { UpstreamConfig, UpstreamModelConfig } from "./upstreamConfig.ts";

export type UpstreamStats = {
  name: string;
  url: string;
  outstanding: number;
  maxConcurrency: number;
  healthy: boolean;
  /** Failures in a row (requests and health checks). */
  failures: number;
  /** Requests sent since start, and those that failed. */
  requests: number;
  failed: number;
};

/** One upstream as the pool tracks it. */
export class Upstream {
  readonly config: UpstreamConfig;
  readonly apiKey: string | undefined;
  /** The server root (`url` without its `/v1`), where /health and /tokenize live. */
  readonly root: string;
  outstanding = 0;
  failures = 0;
  requests = 0;
  failed = 0;
  /** Ejected until this time (performance.now()), after consecutive failures. */
  ejectedUntil = 0;
  /** The health checks' verdict; an upstream is healthy until they say otherwise. */
  checkedHealthy = true;
  /** Failed health checks in a row. */
  failedChecks = 0;

  constructor(config: UpstreamConfig, apiKey: string | undefined) {
    this.config = config;
    this.apiKey = apiKey;
    this.root = config.url.replace(/\/v1$/u, "");
  }

  get name(): string {
    return this.config.name;
  }

  healthy(now = performance.now()): boolean {
    return this.checkedHealthy && now >= this.ejectedUntil;
  }

  headers(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }
}

/** A request's hold on an upstream; `done` hands it back and says how it went. */
export type UpstreamLease = { upstream: Upstream; done(outcome: "ok" | "failed" | "client"): void };

export class UpstreamPool implements Disposable {
  readonly name: string;
  readonly members: Upstream[];
  readonly #config: UpstreamModelConfig;
  readonly #timer: NodeJS.Timeout;
  readonly #log: (message: string) => void;
  /** Retries waiting for a free place on another upstream. */
  readonly #waiters = new Set<() => void>();
  #checking = false;

  constructor(
    name: string,
    config: UpstreamModelConfig,
    apiKeys: ReadonlyMap<UpstreamConfig, string | undefined>,
    log: (message: string) => void = (text) => console.error(`medgate: ${text}`),
  ) {
    this.name = name;
    this.#config = config;
    this.#log = log;
    this.members = config.upstreams.map((upstream) => new Upstream(upstream, apiKeys.get(upstream)));
    this.#timer = setInterval(() => void this.checkHealth(), config.healthIntervalMs);
    this.#timer.unref();
  }

  /** How long a retry waits for a free place (see the upstreams file's `retryWaitMs`). */
  get retryWaitMs(): number {
    return this.#config.retryWaitMs;
  }

  /** Requests all upstreams can take at once. */
  get capacity(): number {
    return this.members.reduce((sum, member) => sum + member.config.maxConcurrency, 0);
  }

  get outstanding(): number {
    return this.members.reduce((sum, member) => sum + member.outstanding, 0);
  }

  get stats(): UpstreamStats[] {
    const now = performance.now();
    return this.members.map((member) => ({
      name: member.name,
      url: member.config.url,
      outstanding: member.outstanding,
      maxConcurrency: member.config.maxConcurrency,
      healthy: member.healthy(now),
      failures: member.failures,
      requests: member.requests,
      failed: member.failed,
    }));
  }

  /**
   * The healthy upstream with the fewest outstanding requests per weight, below its limit, skipping those in
   * `exclude` (tried already). None healthy: 503; all at their limits: 429 with Retry-After.
   */
  acquire(exclude: ReadonlySet<Upstream> = new Set()): UpstreamLease {
    const now = performance.now();
    const candidates = this.members.filter((member) => !exclude.has(member) && member.healthy(now));
    if (candidates.length === 0) {
      throw new UnavailableError(
        exclude.size > 0
          ? `Every upstream of "${this.name}" failed this request.`
          : `No upstream of "${this.name}" is healthy.`,
      );
    }
    let best: Upstream | undefined;
    for (const member of candidates) {
      if (member.outstanding >= member.config.maxConcurrency) continue;
      if (!best || member.outstanding / member.config.weight < best.outstanding / best.config.weight)
        best = member;
    }
    if (!best) {
      throw new OverloadedError(
        `Every upstream of "${this.name}" is at its concurrency limit; retry shortly.`,
        1,
      );
    }
    const upstream = best;
    upstream.outstanding++;
    upstream.requests++;
    let returned = false;
    return {
      upstream,
      done: (outcome) => {
        if (returned) return;
        returned = true;
        upstream.outstanding--;
        for (const wake of this.#waiters) wake();
        if (outcome === "ok") upstream.failures = 0;
        else if (outcome === "failed") {
          upstream.failed++;
          this.#failure(upstream, "request failed");
        }
      },
    };
  }

  /**
   * As `acquire`, but waits (up to `waitMs`) while the untried healthy upstreams are all at their limits: for a
   * retry, whose request must not be lost because the others are busy.
   */
  async acquireWaiting(
    exclude: ReadonlySet<Upstream>,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<UpstreamLease> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      try {
        return this.acquire(exclude);
      } catch (error) {
        const left = deadline - performance.now();
        if (!(error instanceof OverloadedError) || left <= 0 || signal.aborted) throw error;
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.#waiters.delete(wake);
            clearTimeout(timer);
            signal.removeEventListener("abort", wake);
            resolve();
          };
          // Health can change without a lease coming back: look again at least every second.
          const timer = setTimeout(wake, Math.min(left, 1_000));
          this.#waiters.add(wake);
          signal.addEventListener("abort", wake, { once: true });
        });
      }
    }
  }

  /** Runs one round of health checks (GET root + healthPath, 2xx is healthy). */
  async checkHealth(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      await Promise.all(this.members.map((member) => this.#check(member)));
    } finally {
      this.#checking = false;
    }
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
  }

  async #check(member: Upstream): Promise<void> {
    const url = `${member.root}${member.config.healthPath}`;
    const probe = async () => {
      const response = await fetch(url, {
        headers: member.headers(),
        signal: AbortSignal.timeout(Math.min(this.#config.healthIntervalMs, 10_000)),
      });
      await response.body?.cancel();
      return response;
    };
    let verdict: string | null;
    // A refused connection or a non-2xx answer says at once that the upstream cannot serve; a failure that may
    // be load (a timeout) counts only when the next check fails too.
    let decisive: boolean;
    try {
      // A kept-alive connection the upstream closed meanwhile says nothing of its health: once more.
      const response = await probe().catch((error: unknown) => {
        if (closedBeforeResponse(error)) return probe();
        throw error;
      });
      verdict = response.ok ? null : `health check answered ${response.status}`;
      decisive = !response.ok;
    } catch (error) {
      verdict = `health check failed (${causeOf(error)})`;
      decisive = refused(error);
    }
    member.failedChecks = verdict === null ? 0 : member.failedChecks + (decisive ? 2 : 1);
    const was = member.checkedHealthy;
    member.checkedHealthy = member.failedChecks < 2;
    if (verdict === null) {
      if (!was) this.#log(`upstream ${this.name}/${member.name} is healthy again.`);
      if (performance.now() >= member.ejectedUntil) member.failures = 0;
    } else if (was && !member.checkedHealthy) {
      this.#log(`upstream ${this.name}/${member.name} is unhealthy: ${verdict}.`);
    }
  }

  #failure(member: Upstream, why: string): void {
    member.failures++;
    if (member.failures >= this.#config.maxFailures && member.healthy()) {
      member.ejectedUntil = performance.now() + this.#config.ejectMs;
      this.#log(
        `upstream ${this.name}/${member.name} ejected for ${this.#config.ejectMs} ms after ${member.failures} failures in a row (${why}).`,
      );
    }
  }
}

/** A failure and its causes, outermost first (fetch wraps the socket's error in its `cause`). */
function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let current = error; current instanceof Error && chain.length < 5; current = current.cause) {
    chain.push(current);
  }
  return chain;
}

function hasCode(error: unknown, codes: readonly string[]): boolean {
  return causeChain(error).some((cause) => codes.includes((cause as { code?: unknown }).code as string));
}

/** A fetch that failed because the server closed the connection before answering (reset, or closed by the other side). */
export function closedBeforeResponse(error: unknown): boolean {
  return hasCode(error, ["UND_ERR_SOCKET", "ECONNRESET"]);
}

function refused(error: unknown): boolean {
  return hasCode(error, ["ECONNREFUSED"]);
}

/** The innermost message of a fetch failure (`ECONNREFUSED`, a timeout). */
export function causeOf(error: unknown): string {
  const innermost = causeChain(error).at(-1);
  if (!innermost) return "unknown error";
  const code = (innermost as { code?: unknown }).code;
  return typeof code === "string" ? `${code}: ${innermost.message}` : innermost.message;
}
