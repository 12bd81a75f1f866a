import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seededRandom } from '../../../src/seeded-random.js';
import { FlatEmbeddingStore } from '../../../storage/embeddings/flat-embedding-store.js';
import { readSnapshot } from '../../../storage/embeddings/snapshot.js';
import { silentLogger } from '../../../storage/logger.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'add-forever.mjs');
const compiled = path.join(here, '..', '..', '..', 'dist', 'storage', 'embeddings', 'flat-embedding-store.js');

let root: string;
beforeAll(async () => {
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` before the tests`);
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-crash-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the child until SIGKILL after `ms`; returns the ids of every add it reported done. */
function runAndKill(dir: string, firstId: number, ms: number): Promise<bigint[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(firstId)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended by itself (${String(signal)}): ${err}`));
        return;
      }
      const done: bigint[] = [];
      // Only complete lines count: a line cut by the kill was not a finished report.
      for (const line of out.split('\n').slice(0, -1)) {
        const [, first, count] = line.split(' ');
        for (let i = 0; i < Number(count); i++) done.push(BigInt(first as string) + BigInt(i));
      }
      resolve(done);
    });
  });
}

describe('EmbeddingStore crash safety', () => {
  it('leaves a data root that loads, with every returned add present, after SIGKILL at random points', async () => {
    const dir = path.join(root, 'embeddings');
    const random = seededRandom(42);
    const returned: bigint[] = [];
    let recoveredAtLeastOnce = false;
    for (let round = 0; round < 12; round++) {
      // Process start takes ~150 ms; kills land from just after start to deep in the add loop.
      const ms = 150 + Math.floor(random() * 500);
      returned.push(...(await runAndKill(dir, round * 1_000_000, ms)));
      const read = await readSnapshot(dir);
      if (returned.length > 0) expect(read.ok).toBe(true);
      if (read.ok && read.recovered) recoveredAtLeastOnce = true;

      const store = await FlatEmbeddingStore.open({
        dir,
        model: { id: 'crash-model', dim: 128 },
        logger: silentLogger,
      });
      const stats = store.stats();
      expect(stats.count).toBeGreaterThanOrEqual(returned.length);
      const present = new Set((store as unknown as { idMap: Map<bigint, unknown> }).idMap.keys());
      const missing = returned.filter((id) => !present.has(id));
      expect(missing).toEqual([]);
      await store.close();
      // Opening cleans an abandoned staged generation: only the three LLD files remain.
      expect((await readdir(dir)).filter((f) => !f.startsWith('.')).sort()).toEqual([
        'faiss.index',
        'id_map.json',
        'stats.json',
      ]);
    }
    expect(returned.length).toBeGreaterThan(50);
    // Not asserted (timing-dependent), but reported: did a kill land inside a commit?
    console.info(
      `crash-safety: ${returned.length} returned adds survived 12 kills; interrupted commit finished: ${recoveredAtLeastOnce}`,
    );
  });
});
