// `facegate bench scale` at tiny sizes, against the shared PostgreSQL: every table's rows are
// there, the figures add up and the scratch schema is gone afterwards. Timings are not checked (a
// shared 2-core machine); the full run's output is what issue 18's note quotes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { describe, expect, it } from 'vitest';

import {
  type CatchUpRow,
  formatScaleBench,
  type IndexRow,
  type LiveRow,
  runScaleBench,
  type ScaleBenchReport,
} from '../../src/bench/scale-bench.js';
import { SHARED_POSTGRES_URL } from '../helpers/shared-servers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

async function scaleSchemas(): Promise<string[]> {
  const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
      `fgbench_scale_${process.pid}_%`,
    ]);
    return rows.map((r) => r.nspname);
  } finally {
    await client.end();
  }
}

describe('bench scale', () => {
  it('measures every size, every writers x batch row, the catch-up through the change feed and the live case, and drops its schemas', async () => {
    const messages: string[] = [];
    const report: ScaleBenchReport = await runScaleBench({
      databaseUrl: SHARED_POSTGRES_URL,
      sizes: [300, 2000],
      dim: 32,
      writers: [1, 3],
      batch: 10,
      seconds: 1,
      queries: 5,
      changes: 60,
      catchUpBatches: [4, 50],
      liveSamples: 3,
      // 300 x 32-d is written for real; 2000 is over the bound, so it is scaled from 300.
      snapshotLimitBytes: 300 * 32 * 4,
      progress: (m) => messages.push(m),
    });

    expect(report.cpu.cores).toBeGreaterThan(0);
    expect(report.index.map((r) => r.size)).toEqual([300, 2000]);
    for (const row of report.index) {
      expect(row.fp32Bytes).toBe(row.size * 32 * 4);
      expect(row.fp16Bytes).toBe(row.size * 32 * 2);
      // faiss.index alone holds at least the fp32 vectors.
      expect(row.snapshotBytes).toBeGreaterThan(row.fp32Bytes);
      expect(row.storeAdd1Ms).toBeGreaterThan(0);
      for (const v of [row.add1Ms, row.add100Ms, row.remove1Ms, row.searchP50Ms]) expect(v).toBeGreaterThan(0);
      expect(row.searchP99Ms).toBeGreaterThanOrEqual(row.searchP50Ms);
    }

    const [small, large] = report.index as [IndexRow, IndexRow];
    expect(small.snapshotEstimated).toBe(false);
    expect(large.snapshotEstimated).toBe(true);
    expect(large.snapshotBytes).toBe(Math.round((small.snapshotBytes as number) * (2000 / 300)));
    expect(large.storeAdd1Ms).toBeCloseTo((small.storeAdd1Ms as number) * (2000 / 300), 6);
    expect(messages.filter((m) => m.includes('snapshot generations'))).toEqual([
      'index 300: snapshot generations through the EmbeddingStore',
    ]);

    expect(report.events.rows.map((r) => [r.writers, r.batch])).toEqual([
      [1, 1],
      [1, 10],
      [3, 1],
      [3, 10],
    ]);
    for (const row of report.events.rows) {
      expect(row.spooled).toBe(0);
      expect(row.events).toBeGreaterThan(0);
      if (row.batch === 10) expect(row.events % 10).toBe(0);
      expect(row.eventsPerSecond).toBeCloseTo(row.events / row.seconds, 6);
      expect(row.perWriterEventsPerSecond).toBeCloseTo(row.eventsPerSecond / row.writers, 6);
      if (row.batch === 1) expect(row.vsBatch1).toBe(1);
      if (row.writers === 1) expect(row.vsFirstWriters).toBe(1);
    }

    // 60 embedding changes: 2 users B held deleted (10 embeddings), 10 enrolled (50): each createUser
    // and deleteUser is a user-changed and one embeddings change in the feed.
    const c = report.catchUp;
    expect(c.kind).toBe('measured');
    expect(c.feed).toMatchObject({
      embeddingChanges: 60,
      usersCreated: 10,
      embeddingsAdded: 50,
      usersDeleted: 2,
      embeddingsRemoved: 10,
      feedChanges: 24,
      byKind: { 'user-changed': 12, 'embeddings-added': 10, 'embeddings-removed': 2 },
    });
    expect(c.known).toBe(10);
    expect(c.rows.map((r) => [r.size, r.batchSize, r.estimated])).toEqual([
      [300, 4, false],
      [300, 50, false],
      [2000, 4, true],
      [2000, 50, true],
    ]);
    const [b4, b50, s4, s50] = c.rows as [CatchUpRow, CatchUpRow, CatchUpRow, CatchUpRow];
    // One generation per batch read: 24 changes in batches of 4 are 6, in one batch of 50 one.
    expect([b4.generations, b50.generations, s4.generations, s50.generations]).toEqual([6, 1, 6, 1]);
    for (const row of c.rows) {
      expect(row.applied).toBe(24);
      expect(row.openMs).toBeGreaterThan(0);
      expect(row.saveMs).toBeGreaterThan(0);
      expect(row.savesMs).toBeCloseTo(row.generations * row.saveMs, 6);
      expect(row.totalMs).toBeCloseTo(row.openMs + row.savesMs + row.readApplyMs, 6);
    }
    expect(b4.openMs).toBe(b50.openMs); // one open with nothing to apply per size
    expect(s4.openMs).toBeCloseTo(b4.openMs * (2000 / 300), 6);
    expect(s4.saveMs).toBeCloseTo(b4.saveMs * (2000 / 300), 6);
    expect(s4.readApplyMs).toBe(b4.readApplyMs);
    expect(c.live.map((r) => [r.size, r.samples, r.estimated])).toEqual([
      [300, 3, false],
      [2000, 3, true],
    ]);
    const [live, liveScaled] = c.live as [LiveRow, LiveRow];
    expect(live.commitMs).toBeGreaterThan(0);
    expect(live.savedMs).toBeGreaterThanOrEqual(0);
    expect(liveScaled.savedMs).toBeCloseTo(live.savedMs + b4.saveMs * (2000 / 300 - 1), 6);
    expect(messages.filter((m) => m.startsWith('catch-up: appliance B 2000'))).toEqual([]);

    const text = formatScaleBench(report);
    expect(text).toContain(`CPU: ${report.cpu.model || '(no brand string)'}`);
    expect(text).toMatch(/^ +300 +\d/m);
    expect(text).toMatch(/^ +2000 +\d.* +~[\d.]+ +~[\d.]+ /m);
    expect(text).toContain('~: scaled by size from the largest snapshot written');
    for (const [w, b] of [
      [1, 1],
      [1, 10],
      [3, 1],
      [3, 10],
    ]) {
      expect(text).toMatch(new RegExp(`^ +${w} +${b} +\\d+ +\\d+ +[\\d.]+x +[\\d.]+x`, 'm'));
    }
    expect(text).not.toContain('ESTIMATE');
    expect(text).toContain('the feed recorded 24 changes: 12 user-changed, 10 embeddings-added, 2 embeddings-removed');
    expect(text).toMatch(/^ +300 +4 +[\d.]+ +6 +[\d.]+ +[\d.]+ +-?[\d.]+ +[\d.]+ +24$/m);
    expect(text).toMatch(/^ +2000 +50 +~[\d.]+ +1 +~[\d.]+ +~[\d.]+ +-?[\d.]+ +~[\d.]+ +24$/m);
    expect(text).toMatch(/^ +300 +3 +[\d.]+ +[\d.]+ +[\d.]+$/m);
    expect(text).toMatch(/^ +2000 +3 +[\d.]+ +~[\d.]+ +~[\d.]+$/m);
    expect(text).toContain('pgvector, for comparison: 0.5-4.9 s per query at 1M');
    expect(messages.some((m) => m.includes('events: 3 writer(s), batch 10'))).toBe(true);
    expect(await scaleSchemas()).toEqual([]);
  }, 120_000);

  it('runs as `facegate bench scale` and refuses bad lists', () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build:ts\` before this test`);
    const bad = spawnSync(
      process.execPath,
      [cli, 'bench', 'scale', '--sizes', '10,0', '--database-url', SHARED_POSTGRES_URL, '--json'],
      {
        encoding: 'utf8',
      },
    );
    expect(bad.status).toBe(2);
    expect(JSON.parse(bad.stdout)).toEqual({
      error: 'Expected an integer in 1..10000000 for --sizes but received "0"',
    });
    const r = spawnSync(
      process.execPath,
      [
        cli,
        'bench',
        'scale',
        '--sizes',
        '200',
        '--dim',
        '16',
        '--writers',
        '1,2',
        '--batch',
        '5',
        '--seconds',
        '1',
        '--queries',
        '3',
        '--changes',
        '20',
        '--database-url',
        SHARED_POSTGRES_URL,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ +200 +\d/m);
    expect(r.stdout).toMatch(/^ +2 +5 +\d+/m);
    expect(r.stdout).toContain(
      'catch-up after an hour offline at 100 a minute: 20 embedding changes, measured end to end',
    );
  }, 150_000);
});
