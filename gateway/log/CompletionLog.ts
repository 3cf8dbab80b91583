// The response log writer: commits completion rows to the database in groups, spooling them to disk while it is
// away, and says when each row is durable so that an answer is acknowledged only after its record is.
import { SpanStatusCode } from "@opentelemetry/api";
import { sql } from "drizzle-orm";
import { insertCompletions, reviveCompletionRow } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import { errorCauses, rowRefusal } from "../../db/databaseErrors.ts";
import type { NewCompletionRow } from "../../db/schema.ts";
import { LogUnavailableError } from "../errors.ts";
import { gatewayInstruments, tracer } from "../telemetry/instruments.ts";
import { CompletionSpool } from "./CompletionSpool.ts";
import { RejectedCompletions, rejectedRecord } from "./RejectedCompletions.ts";

export type CompletionLogOptions = {
  db: Database;
  /** Folder of the durable spool; one process owns it at a time. Rows the database refuses go to `rejected/` in it. */
  spoolDir: string;
  /** Most rows per insert or spool append (20 columns a row: keep it under ~3,000 for PostgreSQL). Default: 200 */
  batchSize?: number;
  /**
   * How long a row may wait for others to share its insert. Default: 0, group commit: a row is written at once,
   * and the rows that arrive while an insert runs share the next one.
   */
  flushIntervalMs?: number;
  /**
   * An insert of recorded rows not committed in this time counts as failed: its rows go to the spool (fsynced)
   * and their answers go out; if the insert commits after all, the replay skips them by id. Default: 2000 ms
   */
  commitTimeoutMs?: number;
  /** While spooling, how often the database is checked and the spool replayed. Default: 1000 ms */
  retryIntervalMs?: number;
  /**
   * A replay insert or database check not answered in this time counts as failed (the spool keeps its rows), so
   * a silent network never stalls the log. Default: 10000 ms
   */
  writeTimeoutMs?: number;
  /** Receives every error; must not throw. Default: a one-line console.error */
  onError?: (error: Error) => void;
};

export type CompletionLogStats = {
  /** Recorded rows in memory, not yet in the database or the spool. */
  queued: number;
  /** Rows waiting in the spool. */
  spooled: number;
  /** Rows inserted straight from memory. */
  written: number;
  /** Inserts straight from memory: `written / inserts` rows shared each commit. */
  inserts: number;
  /** Rows ever appended to the spool by this instance. */
  spooledTotal: number;
  /** Rows delivered from the spool to the database (a replay cut short may deliver some twice; ids dedupe). */
  replayed: number;
  /**
   * Rows the database refused (SQLSTATE class 22, 23 or 54: the row, not the connection, is at fault), set aside
   * in `<spoolDir>/rejected` with the reason; `medgate logs rejected` lists them and replays them after a fix.
   */
  rejected: number;
  mode: "direct" | "spooling";
};

/**
 * One serial task chain does all the work, so an insert, a spool append and a replay never overlap. A row stays
 * in the in-memory queue until an insert of it succeeded or an fsynced append of it did, and only then does the
 * promise `record` returned resolve; an insert whose outcome is unknown is spooled too, and every insert is
 * `on conflict do nothing` by primary key, so a row written twice is stored once.
 */
export class CompletionLog {
  readonly #db: Database;
  readonly #spool: CompletionSpool<NewCompletionRow>;
  readonly #rejected: RejectedCompletions;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #commitTimeoutMs: number;
  readonly #retryIntervalMs: number;
  readonly #writeTimeoutMs: number;
  readonly #onError: (error: Error) => void;
  #queue: NewCompletionRow[] = [];
  #mode: "direct" | "spooling" = "direct";
  #counts = { spooled: 0, written: 0, inserts: 0, spooledTotal: 0, replayed: 0, rejected: 0 };
  /** Rows accepted by `record` and rows in the database or the spool, ever: `flush` waits for the second. */
  #recorded = 0;
  #settled = 0;
  #waiters: { target: number; resolve: () => void; reject?: (error: Error) => void }[] = [];
  #tail: Promise<void> = Promise.resolve();
  #stepQueued = false;
  #retryDue = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: CompletionLogOptions, spool: CompletionSpool<NewCompletionRow>) {
    this.#db = options.db;
    this.#spool = spool;
    this.#rejected = new RejectedCompletions(options.spoolDir);
    this.#batchSize = options.batchSize ?? 200;
    this.#flushIntervalMs = options.flushIntervalMs ?? 0;
    this.#commitTimeoutMs = options.commitTimeoutMs ?? 2000;
    this.#retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 10_000;
    this.#onError = options.onError ?? ((error) => console.error(`medgate completion log: ${error.message}`));
  }

  /**
   * Takes the spool folder and replays what an earlier run left in it (if the database is down, keeps retrying),
   * then offers the rows the database refused before to it once more: a fix may have come since.
   */
  static async open(options: CompletionLogOptions): Promise<CompletionLog> {
    const log = new CompletionLog(options, await CompletionSpool.open<NewCompletionRow>(options.spoolDir));
    log.#counts.spooled = await log.#spool.pending();
    if (log.#counts.spooled > 0) {
      log.#mode = "spooling";
      log.#retryDue = true;
      log.#schedule();
      await log.#tail;
    }
    await log.#retryRejected();
    return log;
  }

  /** The refused rows, replayed once when the database answers; a failure leaves them where they are. */
  async #retryRejected(): Promise<void> {
    if ((await this.#rejected.list()).length > 0 && this.#mode === "direct") {
      try {
        await withTimeout(this.#db.execute(sql`select 1`), this.#writeTimeoutMs);
        const replay = await this.#rejected.replay(this.#db);
        if (replay.stored > 0)
          this.#report(new Error(`${replay.stored} row(s) refused earlier are now stored`));
      } catch (error) {
        this.#report(error, `refused rows in ${this.#rejected.dir} not replayed`);
      }
    }
    this.#counts.rejected = (await this.#rejected.list()).length;
  }

  /**
   * Queues one row; never throws. The promise resolves once the row is committed to the database or fsynced in
   * the spool, and rejects with `LogUnavailableError` when neither took it (the row stays queued and is retried).
   * The row must not be changed afterwards.
   */
  record(row: NewCompletionRow): Promise<void> {
    if (this.#closing) {
      const error = new LogUnavailableError(`completion log is closed: ${row.id} was not recorded`);
      this.#report(error);
      return Promise.reject(error);
    }
    this.#queue.push(row);
    const target = ++this.#recorded;
    const durable = new Promise<void>((resolve, reject) => this.#waiters.push({ target, resolve, reject }));
    if (this.#flushIntervalMs === 0 || this.#queue.length >= this.#batchSize) this.#schedule();
    else this.#flushTimer ??= setTimeout(() => this.#schedule(), this.#flushIntervalMs);
    return durable;
  }

  /**
   * A recorded row that is not in the database yet (queued, or in the spool while the database is away), so that
   * a row is found as soon as its answer went out.
   */
  async pending(id: string): Promise<NewCompletionRow | undefined> {
    const queued = this.#queue.find((row) => row.id === id);
    if (queued) return queued;
    if (this.#counts.spooled === 0) return undefined;
    const spooled = (await CompletionSpool.records<NewCompletionRow>(this.#spool.dir)).find(
      (row) => row.id === id,
    );
    return spooled && reviveCompletionRow(spooled);
  }

  /** Resolves once every row recorded so far is in the database or fsynced in the spool. */
  flush(): Promise<void> {
    const target = this.#recorded;
    if (this.#settled >= target) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push({ target, resolve }));
    this.#schedule();
    return done;
  }

  /** Flushes, replays the spool once more if the database answers, and releases the spool folder. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closing ??= (async () => {
      await this.flush();
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      if (this.#mode === "spooling") {
        this.#retryDue = true;
        this.#schedule();
      }
      await this.#tail;
      await this.#spool[Symbol.asyncDispose]();
    })();
    return this.#closing;
  }

  /** Bytes of the spool's segments not yet replayed. */
  spoolBytes(): Promise<number> {
    return this.#spool.bytes();
  }

  get stats(): CompletionLogStats {
    return { queued: this.#queue.length, ...this.#counts, mode: this.#mode };
  }

  /** Appends one step to the task chain, unless one is already waiting there (it will see the newer rows). */
  #schedule(): void {
    if (this.#stepQueued) return;
    this.#stepQueued = true;
    this.#tail = this.#tail.then(() => this.#step()).catch((error) => this.#report(error));
  }

  async #step(): Promise<void> {
    this.#stepQueued = false;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#batchSize);
      if (this.#mode === "direct") {
        try {
          this.#counts.written += await traced("completion_log.insert", batch.length, () =>
            this.#insert(batch, this.#commitTimeoutMs),
          );
          this.#counts.inserts++;
          this.#settle(batch.length);
          continue;
        } catch (error) {
          gatewayInstruments().logWriteErrors.add(1, { "error.type": "database_unreachable" });
          this.#report(error, "database write failed, spooling");
          this.#mode = "spooling";
        }
      }
      try {
        await traced("completion_log.spool", batch.length, () => this.#spool.append(batch));
      } catch (error) {
        this.#report(error, "spool append failed, rows kept in memory");
        // Their answers cannot be acknowledged; the rows stay queued and the retry timer comes back to them.
        this.#refuse(
          batch.length,
          new LogUnavailableError(
            "The answer could not be recorded: the database and the response log's spool are both unavailable.",
            { cause: error },
          ),
        );
        break;
      }
      this.#counts.spooled += batch.length;
      this.#counts.spooledTotal += batch.length;
      this.#settle(batch.length);
    }
    // After the queue: rows waiting for their acknowledgement never wait behind a check of a silent database.
    // Rows recorded meanwhile have scheduled the next step.
    if (this.#retryDue) {
      this.#retryDue = false;
      await this.#recover();
    }
    // Closing stops the retries, unless rows are still waiting for the spool to take them.
    if (this.#mode === "spooling" && (!this.#closing || this.#queue.length > 0)) {
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        this.#retryDue = true;
        this.#schedule();
      }, this.#retryIntervalMs).unref();
    }
  }

  /** Checks the database, replays the whole spool into it, and goes back to direct writes; stays spooling on failure. */
  async #recover(): Promise<void> {
    try {
      await withTimeout(this.#db.execute(sql`select 1`), this.#commitTimeoutMs);
    } catch {
      return; // still down; reported when the outage began
    }
    try {
      const result = await traced("completion_log.replay", this.#counts.spooled, () =>
        this.#spool.replay(
          async (batch) => {
            this.#counts.replayed += await this.#insert(batch.map(reviveCompletionRow));
          },
          { batchSize: this.#batchSize },
        ),
      );
      const skipped = result.skippedTornLines + result.skippedCorruptLines;
      if (skipped > 0) this.#report(new Error(`${skipped} unreadable spool lines skipped`));
      this.#mode = "direct";
    } catch (error) {
      this.#report(error, "spool replay failed");
    } finally {
      this.#counts.spooled = await this.#spool.pending().catch(() => this.#counts.spooled);
    }
  }

  /**
   * Inserts idempotently and returns the rows stored. Rows the database refuses are set aside one by one with
   * the reason, so a single bad row never blocks the log; any other error is thrown (and the batch spooled).
   */
  async #insert(batch: NewCompletionRow[], timeoutMs = this.#writeTimeoutMs): Promise<number> {
    try {
      await withTimeout(insertCompletions(this.#db, batch), timeoutMs);
      return batch.length;
    } catch (error) {
      const refusal = rowRefusal(error);
      if (!refusal) throw error;
      if (batch.length > 1) {
        let stored = 0;
        for (const row of batch) stored += await this.#insert([row], timeoutMs);
        return stored;
      }
      const row = batch[0]!;
      await this.#rejected.add([rejectedRecord(row, refusal, new Date())]);
      this.#counts.rejected++;
      gatewayInstruments().logWriteErrors.add(1, { "error.type": "row_refused" });
      this.#report(
        error,
        `row ${row.id} refused by the database (SQLSTATE ${refusal.code}), set aside in ${this.#rejected.dir}; see \`medgate logs rejected\``,
      );
      return 0;
    }
  }

  #settle(rows: number): void {
    this.#queue.splice(0, rows);
    this.#settled += rows;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.target > this.#settled) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Rejects the waiters of the first `rows` queued rows (only those still waiting: `flush` waits on). */
  #refuse(rows: number, error: Error): void {
    const last = this.#settled + rows;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.target > last || !waiter.reject) return true;
      waiter.reject(error);
      return false;
    });
  }

  #report(error: unknown, context?: string): void {
    // The innermost cause's first line: drizzle's own message repeats the whole query and its parameters.
    const message = String(errorCauses(error).at(-1)?.message ?? error).split("\n")[0];
    try {
      this.#onError(new Error(context ? `${context}: ${message}` : message, { cause: error }));
    } catch {
      // onError must not throw; if it does, there is nowhere left to report to.
    }
  }
}

/** The query's own promise stays handled by `race`, so a late failure is never an unhandled rejection. */
function withTimeout<T>(query: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(reject, ms, new Error(`no answer in ${ms} ms`));
  });
  return Promise.race([query, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `work` in a span of its own (a root span: the log works apart from any request) with the row count. */
async function traced<T>(name: string, rows: number, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { root: true, attributes: { "medgate.completion_log.rows": rows } },
    async (span) => {
      try {
        return await work();
      } catch (error) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: String((error as Error)?.message ?? error).split("\n")[0],
        });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
