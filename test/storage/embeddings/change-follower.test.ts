// The change follower (issue 18): two appliances (two Storage instances, two data roots, two
// appliance ids) on one disposable PostgreSQL. An enrolment at A reaches B's index within 2 s by
// NOTIFY alone (the poll is set to a minute), a deletion at B leaves A's within 2 s, and B's user
// directory hears of the user. B's link to the database is cut (a TCP proxy, test/helpers/tcp-proxy.ts,
// that drops and refuses connections: stopping the server would cut A too) while A enrols one user and deletes
// another: B keeps searching its snapshot, and when the link returns applies both, its index then
// equal to the database's without a rebuild. Closed and reopened, B applies only the changes after
// its mark. Another model's changes are skipped; a gap in the feed falls back to verify.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseStorageConfig } from '../../../storage/config.js';
import { connectPostgres } from '../../../storage/db/sql-client.js';
import { openStorage, type Storage } from '../../../storage/index.js';
import { silentLogger } from '../../../storage/logger.js';
import { type DisposablePostgres, startPostgres } from '../../helpers/disposable-postgres.js';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js';
import { until } from '../../helpers/until.js';

const MODEL = { id: 'feed-model', dim: 8 };
let server: DisposablePostgres;
let proxy: TcpProxy;
let root: string;

let vectorSeed = 1;
function unit(): Float32Array {
  // Deterministic and spread: each call a different direction.
  const v = new Float32Array(MODEL.dim).map((_x, i) => Math.sin(vectorSeed * (i + 1) * 1.7 + i));
  vectorSeed++;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function open(name: string, applianceId: string, databaseUrl: string, pollMs = 60_000): Promise<Storage> {
  return openStorage(parseStorageConfig({ dataRoot: path.join(root, name), databaseUrl, applianceId }), {
    embeddingModel: MODEL,
    logger: silentLogger,
    changeFeed: { pollMs },
  });
}

/** An enrolment as the app does it: the user and embeddings in the database, then this appliance's index at once. */
async function enrol(
  s: Storage,
  id: string,
  n = 3,
  modelId = MODEL.id,
): Promise<{ ids: bigint[]; vectors: Float32Array[] }> {
  const vectors = Array.from({ length: n }, () => unit());
  const { embeddings } = await s.db.createUser(
    { id, name: id },
    vectors.map((vector, i) => ({ image: `face_${i}.png`, modelId, vector })),
  );
  if (modelId === MODEL.id)
    await s.embeddings.add(
      embeddings.map((e) => ({ embeddingId: e.id, userId: id, image: e.image, modelId, vector: e.vector })),
    );
  return { ids: embeddings.map((e) => e.id), vectors };
}

/** A deletion as the app does it: the database, then this appliance's index. */
async function remove(s: Storage, id: string): Promise<void> {
  const { embeddingIds } = await s.db.deleteUser(id);
  await s.embeddings.removeIds(embeddingIds);
}

function indexIds(s: Storage): Set<bigint> {
  return new Set((s.embeddings as unknown as { idMap: Map<bigint, unknown> }).idMap.keys());
}

async function topUser(s: Storage, v: Float32Array): Promise<string | undefined> {
  return (await s.embeddings.search(v, 1))[0]?.userId;
}

beforeAll(async () => {
  server = await startPostgres();
  proxy = await startTcpProxy(server.port);
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-follow-'));
});
afterAll(async () => {
  await proxy.close();
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

describe('two appliances following one database', () => {
  let a: Storage;
  let b: Storage;
  beforeAll(async () => {
    a = await open('a', 'site-a', server.url);
    b = await open('b', 'site-b', proxy.via(server.url));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('an enrolment at A is in B’s index within 2 s, a deletion at B leaves A’s within 2 s, by NOTIFY alone', async () => {
    const heard: string[][] = [];
    b.changes.onUsersChanged((ids) => heard.push(ids));
    // Each verified its fresh data root once at open (no mark yet); none after.
    expect([a.changes.stats().verifies, b.changes.stats().verifies]).toEqual([1, 1]);
    const t0 = performance.now();
    const ada = await enrol(a, 'ada');
    await until('ada at B', () => ada.ids.every((id) => indexIds(b).has(id)), 5_000);
    const toB = performance.now() - t0;
    expect(toB).toBeLessThan(2_000);
    expect(await topUser(b, ada.vectors[1] as Float32Array)).toBe('ada');
    // Told once the batch's snapshot generation is on disk (a moment after the index has it in memory).
    await until('B’s users-changed listener', () => heard.flat().includes('ada'), 5_000);

    const t1 = performance.now();
    await remove(b, 'ada');
    await until('ada gone at A', () => ada.ids.every((id) => !indexIds(a).has(id)), 5_000);
    const toA = performance.now() - t1;
    expect(toA).toBeLessThan(2_000);
    expect(await topUser(a, ada.vectors[1] as Float32Array)).not.toBe('ada');
    console.info(
      `change feed: enrol at A -> B's index ${toB.toFixed(0)} ms; delete at B -> A's index ${toA.toFixed(0)} ms`,
    );

    // Each appliance saw its own changes too, and found them already applied: the same index as the database.
    await until('both caught up', () => a.changes.stats().behind === 0 && b.changes.stats().behind === 0, 5_000);
    expect(await a.embeddings.verify()).toEqual({ rebuilt: false, verified: true });
    expect(await b.embeddings.verify()).toEqual({ rebuilt: false, verified: true });
    expect([a.changes.stats().verifies, b.changes.stats().verifies]).toEqual([1, 1]);
  });

  it('skips another model’s embeddings, and falls back to verify on a gap in the feed', async () => {
    await until(
      'B caught up',
      async () => b.changes.stats().appliedSeq === Number(await a.db.latestChangeSeq()),
      5_000,
    );
    const before = b.changes.stats();
    const count = b.embeddings.stats().count;
    await enrol(a, 'other-model', 2, 'another-model');
    await until('B applied it', () => b.changes.stats().applied >= before.applied + 2, 5_000);
    expect(b.embeddings.stats().count).toBe(count);
    expect(b.changes.stats().verifies).toBe(before.verifies);

    // A gap: the counter moved on by two, only the second seq written (no writer of facegate does this).
    const client = connectPostgres(server.url, undefined, silentLogger);
    try {
      await client.transaction(async (tx) => {
        const [row] = await tx.query<{ seq: string }>('UPDATE change_seq SET seq = seq + 2 RETURNING seq');
        await tx.query(`INSERT INTO changes (seq, kind, user_id) VALUES ($1, 'user-changed', 'ghost')`, [row?.seq]);
        await tx.query(`SELECT pg_notify('facegate_changes', $1)`, [row?.seq]);
      });
    } finally {
      await client.close();
    }
    const latest = Number(await a.db.latestChangeSeq());
    await until('B verified past the gap', () => b.changes.stats().appliedSeq === latest, 5_000);
    expect(b.changes.stats().verifies).toBe(before.verifies + 1);
  });

  it('keeps searching its snapshot while its link is down, then applies what it missed, equal to the database without a rebuild', async () => {
    const bo = await enrol(a, 'bo');
    await until('bo at B', () => bo.ids.every((id) => indexIds(b).has(id)), 5_000);
    const verifies = b.changes.stats().verifies;

    proxy.cut();
    // B notices (its LISTEN connection drops) and goes read-only.
    await until('B read-only', () => !b.db.health().available, 10_000);
    const cy = await enrol(a, 'cy');
    await remove(a, 'bo');
    // B recognises from its snapshot meanwhile: bo still (the deletion has not reached it), cy not yet.
    expect(await topUser(b, bo.vectors[0] as Float32Array)).toBe('bo');
    expect(indexIds(b).has(cy.ids[0] as bigint)).toBe(false);
    expect(b.changes.stats().behind).toBe(0); // it cannot know yet

    proxy.restore();
    await until(
      'B caught up after the link returned',
      () => cy.ids.every((id) => indexIds(b).has(id)) && bo.ids.every((id) => !indexIds(b).has(id)),
      20_000,
    );
    expect(await topUser(b, cy.vectors[2] as Float32Array)).toBe('cy');
    expect(b.changes.stats().verifies).toBe(verifies);
    expect(await b.embeddings.verify()).toEqual({ rebuilt: false, verified: true });
  });

  it('resumes from its mark after a restart: applies only the changes made while it was closed', async () => {
    await until(
      'B caught up',
      async () => b.changes.stats().appliedSeq === Number(await a.db.latestChangeSeq()),
      5_000,
    );
    const mark = b.changes.stats().appliedSeq as number;
    await b.close();
    const dee = await enrol(a, 'dee');
    const eve = await enrol(a, 'eve', 2);
    await remove(a, 'cy');
    await a.db.setUserStatus('dee', 'disabled');
    const latest = Number(await a.db.latestChangeSeq());
    // dee: 2, eve: 2, cy: 2, status: 1.
    expect(latest - mark).toBe(7);

    b = await open('b', 'site-b', proxy.via(server.url));
    const stats = b.changes.stats();
    expect(stats).toMatchObject({ appliedSeq: latest, latestSeq: latest, behind: 0, applied: 7, verifies: 0 });
    expect(b.embeddings.stats().loadedFrom).toBe('snapshot');
    for (const id of [...dee.ids, ...eve.ids]) expect(indexIds(b).has(id)).toBe(true);
    expect(await b.embeddings.verify()).toEqual({ rebuilt: false, verified: true });
  });

  it('writes no snapshot generation for its own changes (they change nothing here), and saves the mark at close', async () => {
    await until(
      'A caught up',
      async () => a.changes.stats().appliedSeq === Number(await a.db.latestChangeSeq()),
      5_000,
    );
    const generation = a.embeddings.stats().generation;
    await enrol(a, 'fay'); // one generation: the enrolment's own save
    await a.db.setUserStatus('fay', 'disabled'); // a user-only change
    await a.changes.catchUp();
    const latest = Number(await a.db.latestChangeSeq());
    expect(a.changes.stats().appliedSeq).toBe(latest);
    // The feed brought nothing new to A's index: no second generation for the mark alone.
    expect(a.embeddings.stats().generation).toBe(generation + 1);
    await a.close();
    a = await open('a', 'site-a', server.url);
    expect(a.changes.stats()).toMatchObject({ appliedSeq: latest, applied: 0, verifies: 0 });
  });
});
