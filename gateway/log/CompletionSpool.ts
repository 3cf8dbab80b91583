// The durable local spool of completion records while the database is away: fsynced JSON-lines segments.

import { type FileHandle, mkdir, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { releaseFolderLock, takeFolderLock } from "../../db/folderLock.ts";

export type CompletionSpoolOptions = {
  /**
   * A segment that would grow past this size is closed and the append starts a new one; it also bounds
   * what `replay` holds in memory at once. Default: 64 MiB.
   */
  maxSegmentBytes?: number;
  /** Records handed to the sink at once by `replay`. Default: 500. */
  batchSize?: number;
};

export type ReplayResult = {
  /** Records the sink accepted. */
  replayed: number;
  /** Unterminated last lines: an append that a crash cut short, never acknowledged. */
  skippedTornLines: number;
  /** Terminated lines that are not a JSON record with a string `id` (damage on disk or by hand). */
  skippedCorruptLines: number;
};

/** Another live process (or this one) owns the spool folder. */
export class SpoolLockedError extends Error {
  override name = "SpoolLockedError";
  constructor(
    readonly lockPath: string,
    /** The owner named in the lock file; null when it names none (remove it if no process owns the spool). */
    readonly ownerPid: number | null,
  ) {
    const owner = ownerPid === null ? "an unknown process" : `live process ${ownerPid}`;
    super(`Spool lock ${lockPath} is held by ${owner}; only one process may own a spool folder.`);
  }
}

export class SpoolClosedError extends Error {
  override name = "SpoolClosedError";
  constructor() {
    super("The completion spool is closed.");
  }
}

const LOCK_FILE = "spool.lock";
const SEGMENT = /^segment-(\d{12})\.jsonl$/;
const segmentName = (sequence: number) => `segment-${String(sequence).padStart(12, "0")}.jsonl`;

/**
 * Segments are `segment-<12-digit sequence>.jsonl`, one JSON record per `\n`-terminated line. A segment is
 * only ever appended to by the process that created it: `open()` and `replay()` always start a new one, and
 * a failed write abandons it, so a torn line can only be the last line of its segment.
 */
export class CompletionSpool<T extends { id: string }> {
  readonly #dir: string;
  readonly #maxSegmentBytes: number;
  readonly #batchSize: number;
  #nextSequence: number;
  #current: { handle: FileHandle; bytes: number } | null = null;
  #appendTail: Promise<unknown> = Promise.resolve();
  #replayTail: Promise<unknown> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(dir: string, nextSequence: number, options: CompletionSpoolOptions) {
    this.#dir = dir;
    this.#nextSequence = nextSequence;
    this.#maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.#batchSize = options.batchSize ?? 500;
  }

  /** Creates `dir` if missing and takes its lock; fails with `SpoolLockedError` while a live owner has it. */
  static async open<T extends { id: string }>(
    dir: string,
    options: CompletionSpoolOptions = {},
  ): Promise<CompletionSpool<T>> {
    await mkdir(dir, { recursive: true });
    const lockPath = join(dir, LOCK_FILE);
    await takeFolderLock(lockPath, (ownerPid) => new SpoolLockedError(lockPath, ownerPid));
    const names = await segmentNames(dir);
    const last = names.length > 0 ? Number(SEGMENT.exec(names.at(-1)!)![1]) : 0;
    return new CompletionSpool<T>(dir, last + 1, options);
  }

  /** The spool folder. */
  get dir(): string {
    return this.#dir;
  }

  /** Resolves once every record is on disk (one fsync for the call). */
  append(records: T[]): Promise<void> {
    return this.#exclusive(async () => {
      if (records.length === 0) return;
      const bytes = Buffer.from(records.map((record) => `${JSON.stringify(record)}\n`).join(""));
      if (
        this.#current &&
        this.#current.bytes > 0 &&
        this.#current.bytes + bytes.length > this.#maxSegmentBytes
      ) {
        await this.#closeCurrent();
      }
      const current = this.#current ?? (await this.#startSegment());
      try {
        await current.handle.appendFile(bytes);
        // fdatasync covers the data and the file size, which is all a reader needs.
        await current.handle.datasync();
        current.bytes += bytes.length;
      } catch (error) {
        // The segment may now end in a partial line (and after a failed fsync its state is unknown):
        // never write behind it again. The caller sees the rejection and may retry; replays are idempotent.
        await this.#closeCurrent().catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Closes the current segment, then hands every record of the closed segments to `sink` in order and
   * deletes each segment once the sink accepted all of it. A sink error stops the replay and is rethrown;
   * the segment it was on is kept whole, so some of its records may be delivered again next time.
   */
  replay(sink: (batch: T[]) => Promise<void>, options: { batchSize?: number } = {}): Promise<ReplayResult> {
    const batchSize = options.batchSize ?? this.#batchSize;
    const run = this.#replayTail.then(async () => {
      const closed = await this.#exclusive(async () => {
        await this.#closeCurrent();
        return segmentNames(this.#dir);
      });
      const result: ReplayResult = { replayed: 0, skippedTornLines: 0, skippedCorruptLines: 0 };
      for (const name of closed) {
        const path = join(this.#dir, name);
        const segment = parseSegment<T>(await readFile(path, "utf8"));
        result.skippedTornLines += segment.tornLines;
        result.skippedCorruptLines += segment.corruptLines;
        for (let start = 0; start < segment.records.length; start += batchSize) {
          const batch = segment.records.slice(start, start + batchSize);
          await sink(batch);
          result.replayed += batch.length;
        }
        // Not fsyncing the folder here is safe: a segment that comes back after a crash is delivered again.
        await rm(path);
      }
      return result;
    });
    this.#replayTail = run.catch(() => {});
    return run;
  }

  /** Records waiting in the spool, closed and current segments alike. */
  async pending(): Promise<number> {
    return (await CompletionSpool.records(this.#dir)).length;
  }

  /** Bytes of the segments waiting in the spool. */
  async bytes(): Promise<number> {
    let total = 0;
    for (const name of await segmentNames(this.#dir)) {
      total += await stat(join(this.#dir, name)).then(
        (file) => file.size,
        () => 0, // a replay just delivered it
      );
    }
    return total;
  }

  /**
   * Every record in the segments of `dir`, oldest first, read without taking the folder's lock (so beside a
   * live owner too); a folder that does not exist holds none.
   */
  static async records<T extends { id: string }>(dir: string): Promise<T[]> {
    const names = await segmentNames(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    const records: T[] = [];
    for (const name of names) {
      const text = await readFile(join(dir, name), "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return ""; // a replay just delivered it
        throw error;
      });
      records.push(...parseSegment<T>(text).records);
    }
    return records;
  }

  /** Waits for running appends and replays, closes the segment and releases the folder. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closing ??= (async () => {
      await this.#exclusive(async () => {
        this.#closed = true;
        await this.#closeCurrent();
      });
      await this.#replayTail;
      await releaseFolderLock(join(this.#dir, LOCK_FILE));
    })();
    return this.#closing;
  }

  /** Runs `task` after every earlier append, rotation and close, so writes never interleave. */
  #exclusive<R>(task: () => Promise<R>): Promise<R> {
    const run = this.#appendTail.then(() => {
      if (this.#closed) throw new SpoolClosedError();
      return task();
    });
    this.#appendTail = run.catch(() => {});
    return run;
  }

  async #startSegment(): Promise<{ handle: FileHandle; bytes: number }> {
    const handle = await open(join(this.#dir, segmentName(this.#nextSequence++)), "a");
    this.#current = { handle, bytes: 0 };
    await syncDirectory(this.#dir); // the new file's name must survive a crash along with its contents
    return this.#current;
  }

  async #closeCurrent(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    await current?.handle.close();
  }
}

async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => SEGMENT.test(name)).sort();
}

function parseSegment<T extends { id: string }>(text: string) {
  const lines = text.split("\n");
  // After the last "\n" comes either nothing or a line whose append never completed.
  const tornLines = lines.pop() === "" ? 0 : 1;
  const records: T[] = [];
  let corruptLines = 0;
  for (const line of lines) {
    const record = parseRecord<T>(line);
    if (record) records.push(record);
    else corruptLines++;
  }
  return { records, tornLines, corruptLines };
}

function parseRecord<T extends { id: string }>(line: string): T | undefined {
  try {
    const value: unknown = JSON.parse(line);
    const isRecord = typeof value === "object" && value !== null && typeof (value as T).id === "string";
    return isRecord ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
