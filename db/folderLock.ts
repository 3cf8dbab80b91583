// A pid lock file that gives one process at a time a folder (an embedded database, a spool).
import { readFile, rm, writeFile } from "node:fs/promises";

/**
 * O_EXCL-creates `lockPath` holding our pid. A lock whose pid is dead is removed and taken over; two
 * processes taking over the same stale lock in the same instant could both win, which a pid file cannot
 * rule out. While a live owner (or an unreadable owner) holds it, throws `lockedError(ownerPid)`.
 */
export async function takeFolderLock(
  lockPath: string,
  lockedError: (ownerPid: number | null) => Error,
): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const text = await readFile(lockPath, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null; // released meanwhile: try again
      throw error;
    });
    if (text === null) continue;
    const owner = Number.parseInt(text, 10);
    const ownerPid = Number.isInteger(owner) && owner > 0 ? owner : null;
    if (ownerPid === null || isAlive(ownerPid)) throw lockedError(ownerPid);
    await rm(lockPath, { force: true });
  }
  throw lockedError(null);
}

/** Removes the lock if this process holds it. */
export async function releaseFolderLock(lockPath: string): Promise<void> {
  const text = await readFile(lockPath, "utf8").catch(() => null);
  if (text !== null && Number.parseInt(text, 10) === process.pid) await rm(lockPath, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by someone else
  }
}
