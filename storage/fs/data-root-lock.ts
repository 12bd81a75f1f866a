// One process owns a data root at a time: the spool's journal, PGlite's files and the snapshot
// generations all assume a single writer. The owner holds facegate.lock, which names it: its pid,
// host, start time and a random token. A lock is taken over only when its owner is provably gone:
// its pid is dead, or (Linux) the pid now belongs to a process started at another time (a pid
// reused after a reboot or by another program). A stopped, busy or swapped-out owner keeps it, and
// neither the file's mtime nor the clock is consulted: a touched file or a clock step proves
// nothing about the owner. Where a start time cannot be read (Windows, macOS: no /proc), a live pid
// is taken as the owner, and the error says how to clear a stale lock by hand.
//
// Every change to the file is atomic: it is created whole (hard link of a written temporary file,
// which fails if the lock exists), replaced whole (rename), and removed only by the process it names.
// Two processes taking over one dead owner's lock agree on a winner through a guard file named after
// the stale content, created exclusively (see replaceStale).
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { fsyncDir, renameWithRetry, writeDurableTemp } from './atomic-write.js';

export const LOCK_FILE = 'facegate.lock';

export class DataRootInUseError extends Error {
  override name = 'DataRootInUseError';
}

export interface DataRootLock {
  release(): Promise<void>;
}

/** Who holds a lock. A lock written before the start time was recorded holds only `pid`. */
interface Owner {
  pid: number;
  host?: string;
  /** Linux: the boot id and the start time in clock ticks since boot (/proc/<pid>/stat, field 22). */
  boot?: string;
  start?: string;
  token?: string;
}

/** gone: provably ended, the lock may be taken. alive: the very process. unverifiable: a live pid whose start time cannot be compared. */
type Verdict = 'gone' | 'alive' | 'unverifiable';

// A take-over gives up (and reports the data root in use) after this many changes of the lock under it.
const MAX_ATTEMPTS = 5;
// Chains of guards left by contenders that died mid take-over are followed this deep.
const MAX_GUARD_DEPTH = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootId: Promise<string | null> | undefined;

/** Linux: the boot id and start time of a process; null where /proc cannot tell (another OS, hidepid, the process gone). */
async function startOf(pid: number): Promise<{ boot: string; start: string } | null> {
  bootId ??= fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim(),
    () => null,
  );
  const boot = await bootId;
  if (boot === null) return null;
  const stat = await fs.readFile(path.join('/proc', String(pid), 'stat'), 'utf8').catch(() => null);
  if (stat === null) return null;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
  // The fields after it start at field 3 (state); starttime is field 22.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  return start && /^\d+$/.test(start) ? { boot, start } : null;
}

function parseOwner(text: string): Owner | null {
  const legacy = /^(\d+)\s*$/.exec(text);
  if (legacy) return { pid: Number(legacy[1]) };
  try {
    const o = JSON.parse(text) as Partial<Record<keyof Owner, unknown>>;
    if (!Number.isInteger(o.pid) || (o.pid as number) <= 0) return null;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const owner: Owner = { pid: o.pid as number };
    for (const key of ['host', 'boot', 'start', 'token'] as const) {
      const v = str(o[key]);
      if (v !== undefined) owner[key] = v;
    }
    return owner;
  } catch {
    return null;
  }
}

async function judge(owner: Owner): Promise<Verdict> {
  // Another machine's process (a data root on a share) cannot be looked up from here.
  if (owner.host !== undefined && owner.host !== os.hostname()) return 'unverifiable';
  if (!pidAlive(owner.pid)) return 'gone';
  const now = await startOf(owner.pid);
  if (owner.start === undefined || owner.boot === undefined || now === null) return 'unverifiable';
  return now.boot === owner.boot && now.start === owner.start ? 'alive' : 'gone';
}

/** The file's text, or null when it does not exist. */
async function readText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

// File systems without hard links (FAT, some network shares) fall back to an exclusive create.
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Creates `file` holding `text`, whole, unless it exists: true when created. */
async function createWhole(file: string, text: string): Promise<boolean> {
  const temp = await writeDurableTemp(file, text);
  try {
    await fs.link(temp, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINK.has(code)) throw error;
    try {
      await fs.writeFile(file, text, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    await fs.rm(temp, { force: true });
  }
  await fsyncDir(path.dirname(file));
  return true;
}

/**
 * The owner of a lock text, judged. Text naming nobody (empty, garbage) is read again after a pause:
 * only the exclusive-create fallback shows a lock between its creation and its write, and a power
 * cut can leave it empty; the same text twice is taken as ownerless.
 */
async function ownerOf(
  file: string,
  text: string,
): Promise<{ owner: Owner | null; verdict: Verdict; text: string } | null> {
  const owner = parseOwner(text);
  if (owner) return { owner, verdict: await judge(owner), text };
  await sleep(200);
  const again = await readText(file);
  if (again === null) return null;
  if (again !== text) return ownerOf(file, again);
  return { owner: null, verdict: 'gone', text };
}

/**
 * Replaces `target`, whose text was `stale` (its owner gone), by `text`, unless another process
 * does it first: the one that creates the guard named after the stale text may replace it, and only
 * while the target still holds that text; the others find the guard taken, or the target changed.
 * A guard whose writer died mid take-over is itself stale, and replaced the same way.
 */
async function replaceStale(target: string, stale: string, text: string, depth = 0): Promise<boolean> {
  const guard = `${target}.${createHash('sha256').update(stale).digest('hex').slice(0, 16)}.takeover`;
  if (!(await createWhole(guard, text))) {
    const held = await readText(guard);
    if (held === null || depth >= MAX_GUARD_DEPTH) return false;
    const other = await ownerOf(guard, held);
    if (other === null) return false;
    if (other.verdict !== 'gone') {
      await sleep(50); // another process is taking over now; its lock will be there to judge
      return false;
    }
    if (!(await replaceStale(guard, other.text, text, depth + 1))) return false;
  }
  // The guard is ours until we remove it: only a process that judges us gone could replace it.
  try {
    if ((await readText(target)) !== stale) return false;
    const temp = await writeDurableTemp(target, text);
    try {
      await renameWithRetry(temp, target);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    await fsyncDir(path.dirname(target));
    return true;
  } finally {
    await fs.rm(guard, { force: true });
  }
}

function inUse(dataRoot: string, file: string, owner: Owner | null, verdict: Verdict): DataRootInUseError {
  const who = owner
    ? `process ${owner.pid}${owner.host !== undefined && owner.host !== os.hostname() ? ` on host ${owner.host}` : ''}`
    : 'another process';
  const byHand =
    verdict === 'unverifiable'
      ? `; if no facegate process runs there any more (the pid may now belong to another program), delete ${file} by hand`
      : '';
  return new DataRootInUseError(
    `the data root ${dataRoot} is in use by ${who} (${LOCK_FILE}); stop that process, or talk to it through its API${byHand}`,
  );
}

export async function lockDataRoot(dataRoot: string): Promise<DataRootLock> {
  await fs.mkdir(dataRoot, { recursive: true });
  const file = path.join(dataRoot, LOCK_FILE);
  const self = await startOf(process.pid);
  const me: Owner = { pid: process.pid, host: os.hostname(), ...(self ?? {}), token: randomBytes(16).toString('hex') };
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createWhole(file, text)) return held(file, text);
    const current = await readText(file);
    if (current === null) continue; // released meanwhile
    const found = await ownerOf(file, current);
    if (found === null) continue;
    // Our own process counts too: opening one data root twice in a process is the same conflict.
    if (found.verdict !== 'gone') throw inUse(dataRoot, file, found.owner, found.verdict);
    if (await replaceStale(file, found.text, text)) return held(file, text);
  }
  throw new DataRootInUseError(
    `the data root ${dataRoot} is being opened by another process: its ${LOCK_FILE} changed ${MAX_ATTEMPTS} times while this one tried to take it over; try again`,
  );
}

function held(file: string, text: string): DataRootLock {
  return {
    // Removes the lock only while it names this process: a lock taken over in the meantime (by
    // hand, or by a process that judged us gone) belongs to its new owner. Between the read and
    // the removal nobody can take it: we are alive.
    async release() {
      if ((await readText(file)) === text) await fs.rm(file, { force: true });
    },
  };
}
