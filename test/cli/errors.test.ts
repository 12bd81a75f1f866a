// How `facegate` prints a failure it did not foresee: a readable message, never "[object Object]"
// (PGlite throws plain objects), and a full disk said in those words, with the path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rm } from 'node:fs/promises';
import path from 'node:path';

import { cliErrorMessage } from '../../src/cli/error-message.js';
import { embeddedFacegate } from '../helpers/cli.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/full-disk.js';

let disk: SmallDisk;

beforeAll(async () => {
  disk = await mountSmallDisk('cli-errors', 2 * 1024 * 1024);
});

afterAll(async () => {
  await disk?.unmount();
});

describe('facegate on a full disk', () => {
  it('users list says the disk is full, not [object Object]', async () => {
    const dataDir = path.join(disk.dir, 'data');
    const facegate = embeddedFacegate(() => dataDir);
    // 256 KiB left: room for the data root's folders and lock, not for the database, so PGlite
    // fails mid-way (it throws a plain object); nothing left: the first write fails.
    for (const [leave, args] of [
      [256 * 1024, ['users', 'list']],
      [256 * 1024, ['users', 'list', '--json']],
      [0, ['users', 'list']],
    ] as const) {
      await disk.fill(leave);
      await disk.free();
      const r = facegate(...args);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).not.toContain('[object Object]');
      expect(r.stderr).toMatch(/^facegate: disk full: no space left /m);
      if ((args as readonly string[]).includes('--json'))
        expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(/^disk full: no space left /);
      await disk.free(true);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('cliErrorMessage', () => {
  it('prints a thrown non-Error readably: its message, or an inspection', () => {
    expect(cliErrorMessage({ message: 'relation "users" does not exist' })).toBe('relation "users" does not exist');
    expect(cliErrorMessage({ name: 'ErrnoError', errno: 44 })).toBe("{ name: 'ErrnoError', errno: 44 }");
    expect(cliErrorMessage('plain text')).toBe('plain text');
    expect(cliErrorMessage(undefined)).toBe('undefined');
    expect(cliErrorMessage(new TypeError('bad'))).toBe('bad');
  });

  it('names the file of a full disk when the error has one, on the error or its cause', () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, open '/data/x.jpg'"), {
      code: 'ENOSPC',
      path: '/data/x.jpg',
    });
    expect(cliErrorMessage(enospc)).toMatch(/^disk full: no space left on device to write \/data\/x\.jpg; /);
    const quota = new Error('saving the photo failed', {
      cause: Object.assign(new Error('EDQUOT'), { code: 'EDQUOT', path: '/q/y' }),
    });
    expect(cliErrorMessage(quota)).toMatch(/^disk full: .* to write \/q\/y; .*saving the photo failed/);
  });
});
