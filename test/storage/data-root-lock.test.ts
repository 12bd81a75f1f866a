import { spawn } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { DataRootInUseError, lockDataRoot } from '../../storage/fs/data-root-lock.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the data-root lock', () => {
  it('refuses a second owner while the first holds it, and frees it on release', async () => {
    const lock = await lockDataRoot(root);
    // Another live process holding a fresh lock.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      await writeFile(path.join(root, 'facegate.lock'), `${other.pid}\n`);
      await expect(lockDataRoot(root)).rejects.toThrow(DataRootInUseError);
      await expect(lockDataRoot(root)).rejects.toThrow(new RegExp(`in use by process ${other.pid}`));
    } finally {
      other.kill('SIGKILL');
    }
    await lock.release();
    const again = await lockDataRoot(root);
    await again.release();
  });

  it('takes over a lock whose process is gone', async () => {
    await writeFile(path.join(root, 'facegate.lock'), '999999999\n');
    const lock = await lockDataRoot(root);
    await lock.release();
  });

  it('takes over a lock nobody has touched for a minute (a pid reused after a power cut)', async () => {
    await writeFile(path.join(root, 'facegate.lock'), `${process.ppid}\n`);
    const old = new Date(Date.now() - 60_000);
    await utimes(path.join(root, 'facegate.lock'), old, old);
    const lock = await lockDataRoot(root);
    await lock.release();
  });
});
