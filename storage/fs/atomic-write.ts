// Crash-safe file replacement: write a temporary file beside the target, fsync it, rename it over
// the target (retrying while Windows reports the target busy), then fsync the folder so the
// rename itself survives a power cut. A reader sees the old file or the new one, never a mix.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

// Windows: antivirus scanners, indexers and readers hold files briefly; a rename over a held file
// fails with EBUSY or EPERM (EACCES on some versions) and succeeds a moment later.
const RETRY_CODES = new Set(['EBUSY', 'EPERM', 'EACCES']);
const RETRY_DELAYS_MS = [10, 20, 50, 100, 200, 400, 800, 1600];

/** Renames `from` over `to`, retrying on EBUSY/EPERM/EACCES for about 3 s. */
export async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rename(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const delay = RETRY_DELAYS_MS[attempt];
      if (!RETRY_CODES.has(code) || delay === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Makes a directory's entries (a rename, a new file) durable. A no-op on Windows, where directories cannot be opened. */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A temporary name beside `target`, unique per call; never a name a store lists as data. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether a file name is one of tempPathFor's: a write a crash cut short, never data. */
export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/**
 * Writes `data` to a new temporary file beside `target` and fsyncs it; returns its path. `mode`
 * (POSIX permissions) applies from the file's creation, so a secret is never readable by others.
 */
export async function writeDurableTemp(target: string, data: Uint8Array | string, mode = 0o666): Promise<string> {
  const temp = tempPathFor(target);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    // A write through a file handle fails without a path (ENOSPC, EDQUOT); the caller's message names the file.
    if (error && typeof error === 'object' && !('path' in error)) Object.assign(error, { path: target });
    throw error;
  }
  await handle.close();
  return temp;
}

/** Atomically replaces (or creates) `target` with `data`, durably. Creates the folder if needed. */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const temp = await writeDurableTemp(target, data, options.mode);
  try {
    await renameWithRetry(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(path.dirname(target));
}
