import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { DataRootInUseError, LOCK_FILE, lockDataRoot } from '../../storage/fs/data-root-lock.js';
import { embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR } from '../helpers/shared-data.js';

// The lock as another process holds it: the compiled module (dist/, `npm run build:ts`).
const LOCK_MODULE = path.resolve(import.meta.dirname, '..', '..', 'dist', 'storage', 'fs', 'data-root-lock.js');
const HOLDER = `
const { lockDataRoot } = await import(process.argv[1]);
try { await lockDataRoot(process.argv[2]); console.log('locked'); } catch (e) { console.log('refused: ' + e.message); }
setInterval(() => {}, 1 << 30);
`;

let root: string;
const children: ChildProcess[] = [];
const lockFile = () => path.join(root, LOCK_FILE);

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-lock-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  await rm(root, { recursive: true, force: true });
});

/** A process of its own that tries to lock the data root and then stays alive; resolves with what it said. */
async function holder(): Promise<{ child: ChildProcess; said: string }> {
  if (!existsSync(LOCK_MODULE))
    throw new Error(`Expected the compiled lock module at ${LOCK_MODULE} but it is missing: run npm run build:ts`);
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, pathToFileURL(LOCK_MODULE).href, root], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const said = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) =>
      reject(new Error(`Expected the lock holder to report but it exited with ${code} after ${JSON.stringify(out)}`)),
    );
  });
  return { child, said };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve()),
  );

describe('the data-root lock', () => {
  it('refuses a second owner while the first holds it, and frees it on release', async () => {
    const lock = await lockDataRoot(root);
    // Our own process counts: one data root opened twice in a process is the same conflict.
    await expect(lockDataRoot(root)).rejects.toThrow(DataRootInUseError);
    await expect(lockDataRoot(root)).rejects.toThrow(new RegExp(`in use by process ${process.pid}`));
    await lock.release();
    expect(existsSync(lockFile())).toBe(false);
    const again = await lockDataRoot(root);
    await again.release();
  });

  it('never takes the lock of a living owner, stopped and its file an hour old (a frozen serve, a touched file, a clock step)', async () => {
    const { child, said } = await holder();
    expect(said).toBe('locked');
    const before = await readFile(lockFile(), 'utf8');
    child.kill('SIGSTOP');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(lockFile(), old, old);

    // The compiled command a user would run beside the frozen service.
    const facegate = embeddedFacegate(() => root);
    const photos = ['obama.jpg', 'obama2.jpg', 'obama3.jpg'].map((f) => path.join(FACES_DIR, 'obama', f));
    const r = facegate('enroll', 'CLI1', '--name', 'Cli One', ...photos, '--json');
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toMatch(/enrolled CLI1/);
    expect(r.stderr + r.stdout).toMatch(new RegExp(`in use by process ${child.pid}`));
    await expect(lockDataRoot(root)).rejects.toThrow(new RegExp(`in use by process ${child.pid}`));

    // The lock is intact, and the command wrote nothing.
    expect(await readFile(lockFile(), 'utf8')).toBe(before);
    expect((await readdir(root)).filter((f) => !f.startsWith('.'))).toEqual([LOCK_FILE]);
  });

  it('takes over the lock of a process that is gone', async () => {
    const { child, said } = await holder();
    expect(said).toBe('locked');
    child.kill('SIGKILL');
    await exited(child);
    const lock = await lockDataRoot(root);
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
    // A lock written before start times were recorded: a pid alone.
    await writeFile(lockFile(), '999999999\n');
    await (await lockDataRoot(root)).release();
  });

  it('takes over a lock whose pid lives but was started at another time (a pid reused; Linux, where /proc tells)', async () => {
    const { child, said } = await holder();
    expect(said).toBe('locked');
    const theirs = JSON.parse(await readFile(lockFile(), 'utf8')) as { pid: number; start?: string };
    if (process.platform !== 'linux') {
      // No start time to compare: the live pid is taken as the owner, and the error says what to do.
      expect(theirs.start).toBeUndefined();
      await expect(lockDataRoot(root)).rejects.toThrow(/by hand/);
      return;
    }
    expect(theirs).toMatchObject({ pid: child.pid, start: expect.stringMatching(/^\d+$/) as string });
    // The same live pid, started one tick later than the lock says: another process now.
    await writeFile(lockFile(), JSON.stringify({ ...theirs, start: String(Number(theirs.start) + 1) }));
    const lock = await lockDataRoot(root);
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('keeps the lock of a live pid whose start time it cannot compare, however old, and says how to clear it', async () => {
    await writeFile(lockFile(), `${process.ppid}\n`);
    const old = new Date(Date.now() - 3_600_000);
    await utimes(lockFile(), old, old);
    await expect(lockDataRoot(root)).rejects.toThrow(
      new RegExp(`in use by process ${process.ppid}.*delete .*${LOCK_FILE} by hand`),
    );
    expect(await readFile(lockFile(), 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('release() leaves a lock that another owner holds now', async () => {
    const lock = await lockDataRoot(root);
    const theirs = JSON.stringify({ pid: process.ppid, host: os.hostname(), token: 'theirs' });
    await writeFile(lockFile(), theirs);
    await lock.release();
    expect(await readFile(lockFile(), 'utf8')).toBe(theirs);
  });

  it("gives a dead owner's lock to exactly one of several processes taking it over at once", async () => {
    await writeFile(lockFile(), `${JSON.stringify({ pid: 999999999, host: os.hostname(), token: 'dead' })}\n`);
    const results = await Promise.all([holder(), holder(), holder(), holder()]);
    const said = results.map((r) => r.said);
    expect(said.filter((s) => s === 'locked')).toHaveLength(1);
    const winner = results.find((r) => r.said === 'locked')?.child.pid;
    for (const s of said.filter((s) => s !== 'locked'))
      expect(s).toMatch(/^refused: .*(in use by process|changed \d+ times)/);
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ pid: winner });
    // No guard or temporary file is left behind.
    expect(await readdir(root)).toEqual([LOCK_FILE]);
  });
});
