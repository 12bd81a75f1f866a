// A SIGKILL of appliance B in the middle of applying a batch of 1,000 changes (issue 18): each
// applied batch is a snapshot generation carrying its mark, so after the restart B's index equals
// the database's (verify passes without a rebuild) and the follower re-applied exactly the changes
// after the mark the killed process left on disk, without a full rebuild. The child runs the
// compiled code (fixtures/follow-changes.mjs): `npm run build:ts` first. Shared PostgreSQL, a schema.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseStorageConfig } from '../../../storage/config.js';
import { openStorage, type Storage } from '../../../storage/index.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'follow-changes.mjs');
const compiled = path.join(here, '..', '..', '..', 'dist', 'storage', 'embeddings', 'change-follower.js');
const MODEL = { id: 'crash-feed-model', dim: 8 };
const schema = uniqueSchema();
let root: string;

beforeAll(async () => {
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build:ts\` before the tests`);
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-follow-crash-'));
});
afterAll(async () => {
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await rm(root, { recursive: true, force: true });
});

function open(name: string, applianceId: string): Promise<Storage> {
  return openStorage(
    parseStorageConfig({ dataRoot: path.join(root, name), databaseUrl: SHARED_POSTGRES_URL, applianceId }),
    {
      embeddingModel: MODEL,
      logger: silentLogger,
      schema,
      changeFeed: { pollMs: 60_000 },
    },
  );
}

function unit(seed: number): Float32Array {
  const v = new Float32Array(MODEL.dim).map((_x, i) => Math.sin(seed * (i + 1) * 1.3 + i));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** The mark in B's snapshot on disk (stats.json's applied_seq). */
async function markOnDisk(dataRoot: string): Promise<number | null> {
  try {
    const stats = JSON.parse(await readFile(path.join(dataRoot, 'embeddings', 'stats.json'), 'utf8')) as {
      applied_seq?: string;
    };
    return stats.applied_seq === undefined ? null : Number(stats.applied_seq);
  } catch {
    return null; // not there yet, or caught mid-rename
  }
}

/** Runs B until its mark on disk is at least `from` and short of `to`, then SIGKILLs it. */
function runAndKillMidway(dataRoot: string, from: number, to: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dataRoot, SHARED_POSTGRES_URL, schema, '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const watch = setInterval(() => {
      void markOnDisk(dataRoot).then((mark) => {
        if (mark !== null && mark >= from && mark < to) proc.kill('SIGKILL');
      });
    }, 2);
    // A child that never gets there (it crashed, or never writes a mark) fails the test, not hangs it.
    let gaveUp = false;
    const limit = setTimeout(() => {
      gaveUp = true;
      proc.kill('SIGKILL');
    }, 30_000);
    proc.on('exit', (_code, signal) => {
      clearInterval(watch);
      clearTimeout(limit);
      if (gaveUp) reject(new Error(`the child's mark never reached ${from} in 30 s: ${out} ${err}`));
      else if (signal !== 'SIGKILL') reject(new Error(`child ended by itself (${String(signal)}): ${out} ${err}`));
      else if (out.includes('caught up')) reject(new Error(`child caught up before the kill: ${out}`));
      else resolve();
    });
  });
}

describe('change follower crash safety', () => {
  it('after a SIGKILL mid-way through 1,000 changes, re-applies from its mark: the index equals the database without a rebuild', async () => {
    const a = await open('a', 'site-a');
    let b = await open('b', 'site-b');
    const from = b.changes.stats().appliedSeq as number;
    await b.close();

    // 1,000 changes while B is closed: 500 users, each a user-changed and an embeddings-added.
    for (let i = 0; i < 500; i++) {
      await a.db.createUser({ id: `U${i}`, name: `U${i}` }, [
        { image: 'face_0.png', modelId: MODEL.id, vector: unit(i) },
      ]);
    }
    const latest = Number(await a.db.latestChangeSeq());
    expect(latest - from).toBe(1_000);

    // Killed a third of the way in (or wherever the next applied batch is when the watch sees it).
    await runAndKillMidway(path.join(root, 'b'), from + 300, latest);
    const mark = (await markOnDisk(path.join(root, 'b'))) as number;
    expect(mark).toBeGreaterThan(from);
    expect(mark).toBeLessThan(latest);

    b = await open('b', 'site-b');
    try {
      // Loaded from the snapshot the killed process left, then exactly the changes after its mark.
      expect(b.embeddings.stats().loadedFrom).toBe('snapshot');
      expect(b.changes.stats()).toMatchObject({ appliedSeq: latest, applied: latest - mark, verifies: 0 });
      expect(b.embeddings.stats().count).toBe(500);
      expect(await b.embeddings.verify()).toEqual({ rebuilt: false, verified: true });
      expect(b.embeddings.stats().loadedFrom).toBe('snapshot');
      console.info(`change follower crash: killed at mark ${mark - from} of 1000; re-applied ${latest - mark}`);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
