// Windows, checked as far as Linux can (issue 14, item 10): the id rule with path.win32's
// semantics (an id that passes is one plain file name inside its folder on Windows too, and the
// names Windows reserves or reads as a drive, a stream or a separator are refused), and the
// atomic rename's retry on real EBUSY and EPERM errors, the two a Windows scanner or reader causes:
// a rename over a mount point (EBUSY) and over an immutable file (EPERM, chattr +i), each held
// for a moment and then released, as an antivirus scanner holds a file.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { idProblem, MAX_ID_LENGTH } from '../../storage/ids.js';
import { renameWithRetry } from '../../storage/fs/atomic-write.js';
import { mountSmallDisk } from '../helpers/full-disk.js';

describe('ids as Windows file names (path.win32)', () => {
  const root = 'C:\\ProgramData\\facegate\\storage\\images';

  it('refuses the names Windows reserves, with any extension and in any case', () => {
    for (const id of ['CON', 'con', 'PRN', 'AUX', 'NUL', 'nul.txt', 'COM1', 'com9.jpg', 'LPT1', 'lpt9', 'Con.tar.gz']) {
      expect(idProblem('user', id), id).toMatch(/a reserved name on Windows$/);
    }
    // COM¹ (superscript one: reserved too) is refused before that, as not ASCII.
    expect(idProblem('user', 'COM¹')).toMatch(/^Expected a user id of 1-64 letters/);
    // Not reserved: the name only starts like one.
    for (const id of ['CONSOLE', 'nullable', 'COM10x', 'lpt', 'auxiliary'])
      expect(idProblem('user', id), id).toBeNull();
  });

  it("refuses what Windows reads as a drive, a stream, a separator or a trimmed name (':', '\\\\', '/', a trailing dot or space)", () => {
    for (const id of [
      'C:',
      'a:b',
      'photo.jpg:Zone.Identifier',
      'a\\b',
      '..\\x',
      'a/b',
      'name.',
      'name ',
      ' name',
      '..',
      '.',
      '.hidden',
      'a*b',
      'a?b',
      'a"b',
      'a<b',
      'a|b',
    ]) {
      expect(idProblem('user', id), JSON.stringify(id)).toMatch(/^Expected a user id of 1-64 letters/);
    }
  });

  it('an id that passes is one plain file name in its folder under path.win32, whatever its case or dots', () => {
    const accepted = ['alice', 'A-1', 'emp_0042', 'x.y', 'a..b', 'Z'.repeat(MAX_ID_LENGTH), 'COM10', 'con-1', 'nul_'];
    for (const id of accepted) {
      expect(idProblem('user', id), id).toBeNull();
      const full = path.win32.join(root, id);
      expect(path.win32.dirname(full), id).toBe(root);
      expect(path.win32.basename(full), id).toBe(id);
      expect(path.win32.isAbsolute(id), id).toBe(false);
      // Inside the root after resolution too (no drive-relative or UNC reading of it).
      expect(path.win32.relative(root, path.win32.resolve(root, id)), id).toBe(id);
    }
  });
});

describe('renameWithRetry on the errors a Windows reader causes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-rename-retry-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('retries EBUSY (a rename over a mount point) until the hold ends, then renames', async () => {
    const disk = await mountSmallDisk('rename-busy', 64 * 1024);
    let unmounted = false;
    try {
      const from = path.join(dir, 'new-folder');
      await fs.mkdir(from);
      await expect(fs.rename(from, disk.dir)).rejects.toMatchObject({ code: 'EBUSY' });
      const release = new Promise<void>((resolve) =>
        setTimeout(() => void disk.unmount().then(() => ((unmounted = true), resolve())), 150),
      );
      await renameWithRetry(from, disk.dir);
      await release;
      expect(unmounted).toBe(true);
      await expect(fs.stat(from)).rejects.toMatchObject({ code: 'ENOENT' });
      await fs.rmdir(disk.dir);
    } finally {
      if (!unmounted) await disk.unmount();
    }
  });

  it('gives up after about 3 s with the original EBUSY when the hold never ends', async () => {
    const disk = await mountSmallDisk('rename-busy-long', 64 * 1024);
    try {
      const from = path.join(dir, 'never');
      await fs.mkdir(from);
      const started = performance.now();
      await expect(renameWithRetry(from, disk.dir)).rejects.toMatchObject({ code: 'EBUSY' });
      // The retry delays add up to 3,180 ms (atomic-write.ts).
      expect(performance.now() - started).toBeGreaterThan(3000);
      expect(await fs.readdir(from)).toEqual([]);
    } finally {
      await disk.unmount();
    }
  });

  it('retries EPERM (a rename over an immutable file) until the hold ends, then replaces the file', async () => {
    const target = path.join(dir, 'index.bin');
    const temp = path.join(dir, '.index.bin.tmp');
    await fs.writeFile(target, 'old');
    await fs.writeFile(temp, 'new');
    const chattr = (flag: string) => {
      try {
        execFileSync('chattr', [flag, target], { stdio: 'pipe' });
      } catch (error) {
        const why = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
        throw new Error(
          `Expected chattr ${flag} to work on ${target} (Linux, root, ext4 or similar) but it failed: ${why}`,
        );
      }
    };
    chattr('+i');
    let released = false;
    try {
      await expect(fs.rename(temp, target)).rejects.toMatchObject({ code: 'EPERM' });
      setTimeout(() => {
        chattr('-i');
        released = true;
      }, 150);
      await renameWithRetry(temp, target);
      expect(released).toBe(true);
      expect(await fs.readFile(target, 'utf8')).toBe('new');
      await expect(fs.stat(temp)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      if (!released) chattr('-i');
    }
  });
});
