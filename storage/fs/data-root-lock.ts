// One process owns a data root at a time: the spool's journal, PGlite's files and the snapshot
// generations all assume a single writer. The owner holds facegate.lock (its pid) and touches
// it every 10 s; a lock whose owner is gone, or untouched for 30 s (the pid reused by another
// program after a power cut), is taken over.
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'facegate.lock';
const REFRESH_MS = 10_000;
const STALE_MS = 30_000;

export class DataRootInUseError extends Error {
  override name = 'DataRootInUseError';
}

export interface DataRootLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDataRoot(dataRoot: string): Promise<DataRootLock> {
  await fs.mkdir(dataRoot, { recursive: true });
  const file = path.join(dataRoot, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const [text, stat] = await Promise.all([fs.readFile(file, 'utf8').catch(() => ''), fs.stat(file).catch(() => null)]);
      const pid = Number.parseInt(text, 10);
      const fresh = stat !== null && Date.now() - stat.mtimeMs < STALE_MS;
      // Our own pid counts too: opening one data root twice in a process is the same conflict.
      if (Number.isInteger(pid) && alive(pid) && fresh) {
        throw new DataRootInUseError(
          `the data root ${dataRoot} is in use by process ${pid} (${LOCK_FILE}); stop that process, or talk to it through its API`,
        );
      }
      await fs.rm(file, { force: true }); // its owner is gone: take over
    }
  }
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now).catch(() => undefined);
  }, REFRESH_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await fs.rm(file, { force: true });
    },
  };
}
