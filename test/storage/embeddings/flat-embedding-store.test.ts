import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../../src/bench/random-vectors.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import type { EmbeddingEntry } from '../../../storage/embeddings/embedding-store.js';
import { FlatEmbeddingStore } from '../../../storage/embeddings/flat-embedding-store.js';
import { readSnapshot, writeSnapshot } from '../../../storage/embeddings/snapshot.js';
import { InvalidIdError, StoreInputError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { freePort } from '../../helpers/free-port.js';
import { mountSmallDisk } from '../../helpers/full-disk.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const dim = 64;
const model = { id: 'test-model@1', dim };
let root: string;
let dir: string;

function entries(userId: string, firstId: number, n: number, seed: number): EmbeddingEntry[] {
  const v = randomUnitVectors(n, dim, seed);
  return Array.from({ length: n }, (_, i) => ({
    embeddingId: BigInt(firstId + i),
    userId,
    image: `face_${String(i + 1).padStart(3, '0')}.png`,
    modelId: model.id,
    vector: v.slice(i * dim, (i + 1) * dim),
  }));
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'facegate-emb-'));
  dir = path.join(root, 'embeddings');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FlatEmbeddingStore on its own', () => {
  it('finds the user and image of the closest embedding', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    const ada = entries('U123', 1, 3, 1);
    await store.add([...ada, ...entries('U456', 10, 3, 2)]);
    const matches = await store.search(ada[1]?.vector as Float32Array, 2);
    expect(matches[0]).toMatchObject({ userId: 'U123', image: 'face_002.png', embeddingId: 2n });
    expect(matches[0]?.score).toBeCloseTo(1, 5);
    expect(matches).toHaveLength(2);
    expect(store.stats()).toMatchObject({ count: 6, users: 2, generation: 1, loadedFrom: 'empty', verified: false });
  });

  it('writes exactly the three LLD files, and a reopened store answers the same', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    await store.add(entries('U123', 1, 3, 1));
    await store.add(entries('U456', 10, 3, 2));
    const probe = randomUnitVectors(1, dim, 9);
    const before = await store.search(probe, 4);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['faiss.index', 'id_map.json', 'stats.json']);
    const idMap = JSON.parse(await readFile(path.join(dir, 'id_map.json'), 'utf8')) as Record<string, unknown>;
    expect(idMap['1']).toEqual({ user_id: 'U123', image: 'face_001.png' });
    const reopened = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    expect(await reopened.search(probe, 4)).toEqual(before);
    expect(reopened.stats()).toMatchObject({ count: 6, generation: 2, loadedFrom: 'snapshot' });
  });

  it('refuses vectors of another model or dimension, and hostile user ids', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    const [e] = entries('U1', 1, 1, 3) as [EmbeddingEntry];
    await expect(store.add([{ ...e, modelId: 'other@2' }])).rejects.toThrow(
      /from model test-model@1 but received one from other@2/,
    );
    await expect(store.add([{ ...e, vector: new Float32Array(128) }])).rejects.toThrow(
      /vector of dim 64 but received length 128/,
    );
    await expect(store.add([{ ...e, userId: '../x' }])).rejects.toBeInstanceOf(InvalidIdError);
    await expect(store.search(new Float32Array(128), 1)).rejects.toBeInstanceOf(StoreInputError);
    await store.add([e]);
    await store.add([e]); // the same row again (a rebuild got there first): nothing to do
    await expect(store.add([{ ...e, image: 'face_009.png' }])).rejects.toThrow(
      /1 is already in the index for U1\/face_001.png/,
    );
    expect(store.stats()).toMatchObject({ count: 1, generation: 1 });
  });

  it('refuses vectors that are not normalised (the LLD: normalised vectors only)', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    const [e] = entries('U1', 1, 1, 3) as [EmbeddingEntry];
    const long = e.vector.map((x) => x * 50);
    await expect(store.add([{ ...e, vector: long }])).rejects.toThrow(
      /entries\[0\]\.vector to be L2-normalised \(norm 1\) but its norm is 49\.99/,
    );
    await expect(store.search(long, 1)).rejects.toThrow(/the query to be L2-normalised/);
    expect(store.stats().count).toBe(0);
  });

  it('treats a user deleted while a search runs as gone, not as a broken index', async () => {
    const errors: unknown[] = [];
    const logger = { ...silentLogger, error: (...args: unknown[]) => errors.push(args) } as typeof silentLogger;
    const store = await FlatEmbeddingStore.open({ dir, model, logger });
    const ada = entries('U123', 1, 3, 1);
    await store.add([...ada, ...entries('U456', 10, 3, 2)]);
    const searches = Array.from({ length: 20 }, () => store.search(ada[0]?.vector as Float32Array, 6));
    await store.removeUser('U123');
    for (const matches of await Promise.all(searches)) {
      expect(matches.every((m) => m.userId === 'U456' || m.userId === 'U123')).toBe(true);
    }
    expect(errors).toEqual([]);
    expect((await store.search(ada[0]?.vector as Float32Array, 6)).map((m) => m.userId)).toEqual([
      'U456',
      'U456',
      'U456',
    ]);
  });

  it('removes a user everywhere and keeps the others', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    const ada = entries('U123', 1, 3, 1);
    await store.add([...ada, ...entries('U456', 10, 3, 2)]);
    expect(await store.removeUser('U123')).toBe(3);
    expect((await store.search(ada[0]?.vector as Float32Array, 6)).map((m) => m.userId)).toEqual([
      'U456',
      'U456',
      'U456',
    ]);
    const reopened = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    expect(reopened.stats()).toMatchObject({ count: 3, users: 1 });
  });

  it('drops an index that disagrees with its id map and reloads it from disk', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    const ada = entries('U123', 1, 3, 1);
    await store.add(ada);
    // Fault injection: memory loses an id-map entry, as a corrupted process state would.
    (store as unknown as { idMap: Map<bigint, unknown> }).idMap.delete(1n);
    const matches = await store.search(ada[0]?.vector as Float32Array, 1);
    expect(matches[0]).toMatchObject({ userId: 'U123', embeddingId: 1n });
  });
});

describe('FlatEmbeddingStore snapshot generations', () => {
  async function twoGenerations() {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    await store.add(entries('U123', 1, 3, 1));
    const gen1 = path.join(root, 'gen1');
    const { cp } = await import('node:fs/promises');
    await cp(dir, gen1, { recursive: true });
    await store.add(entries('U456', 10, 3, 2));
    return gen1;
  }

  it('never loads a mismatched pair (an id_map.json from another generation)', async () => {
    const gen1 = await twoGenerations();
    await copyFile(path.join(gen1, 'id_map.json'), path.join(dir, 'id_map.json'));
    const read = await readSnapshot(dir);
    expect(read).toEqual({ ok: false, reason: 'id_map.json does not match stats.json' });
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    expect(store.stats()).toMatchObject({ count: 0, loadedFrom: 'empty' });
  });

  it('refuses a corrupted faiss.index', async () => {
    await twoGenerations();
    const file = path.join(dir, 'faiss.index');
    const bytes = await readFile(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
    await writeFile(file, bytes);
    expect(await readSnapshot(dir)).toEqual({ ok: false, reason: 'faiss.index does not match stats.json' });
  });

  it('finishes a save that was cut between its renames', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    await store.add(entries('U123', 1, 3, 1));
    // Generation 2 staged beside generation 1, and the crash came after the first rename.
    const staging = path.join(root, 'staging');
    const next = await FlatEmbeddingStore.open({ dir: staging, model, logger: silentLogger });
    await next.add([...entries('U123', 1, 3, 1), ...entries('U456', 10, 3, 2)]);
    const stats = JSON.parse(await readFile(path.join(staging, 'stats.json'), 'utf8')) as { generation: number };
    stats.generation = 2;
    await writeFile(path.join(dir, 'stats.json.next'), JSON.stringify(stats));
    await copyFile(path.join(staging, 'id_map.json'), path.join(dir, 'id_map.json.next'));
    await copyFile(path.join(staging, 'faiss.index'), path.join(dir, 'faiss.index.next'));
    await rename(path.join(dir, 'faiss.index.next'), path.join(dir, 'faiss.index'));

    const read = await readSnapshot(dir);
    expect(read.ok && read.recovered).toBe(true);
    const reopened = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    expect(reopened.stats()).toMatchObject({ count: 6, generation: 2, loadedFrom: 'snapshot' });
  });

  it('keeps the committed generation when a staged one is incomplete', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    await store.add(entries('U123', 1, 3, 1));
    const index = (await readSnapshot(dir)) as { ok: true; snapshot: { index: Parameters<typeof writeSnapshot>[1] } };
    // Staged index only: its stats record was never written, so it is an abandoned attempt.
    await writeFile(path.join(dir, 'faiss.index.next'), index.snapshot.index.serialize());
    const reopened = await FlatEmbeddingStore.open({ dir, model, logger: silentLogger });
    expect(reopened.stats()).toMatchObject({ count: 3, generation: 1 });
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['faiss.index', 'id_map.json', 'stats.json']);
  });
});

describe('FlatEmbeddingStore against the database', () => {
  const schema = uniqueSchema();
  let db: SqlDbStore;
  beforeAll(async () => {
    const base = await mkdtemp(path.join(os.tmpdir(), 'facegate-embdb-'));
    db = await SqlDbStore.open({
      databaseUrl: SHARED_POSTGRES_URL,
      schema,
      pgliteDir: path.join(base, 'pglite'),
      spoolDir: path.join(base, 'spool'),
      logger: silentLogger,
    });
  });
  afterAll(async () => {
    await db.close();
    await dropSchema(SHARED_POSTGRES_URL, schema);
  });

  async function enroll(userId: string, seed: number) {
    const v = randomUnitVectors(3, dim, seed);
    const { embeddings } = await db.createUser(
      { id: userId, name: userId },
      [0, 1, 2].map((i) => ({
        image: `face_00${i + 1}.png`,
        modelId: model.id,
        vector: v.slice(i * dim, (i + 1) * dim),
      })),
    );
    return embeddings.map((e) => ({ embeddingId: e.id, userId, image: e.image, modelId: e.modelId, vector: e.vector }));
  }

  it('rebuilds a stale snapshot from face_embeddings at start', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    await store.add(await enroll('A1', 1));
    await enroll('B2', 2); // in the database only: the snapshot is now stale
    const reopened = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    expect(reopened.stats()).toMatchObject({ count: 6, users: 2, loadedFrom: 'database', verified: true });
    expect((await readSnapshot(dir)).ok).toBe(true);
  });

  it('keeps a snapshot that matches the database', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    expect(store.stats()).toMatchObject({ loadedFrom: 'database', verified: true });
    const again = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    expect(again.stats()).toMatchObject({ loadedFrom: 'snapshot', verified: true, count: store.stats().count });
  });

  it('serves from the snapshot when the database is down at start', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    const count = store.stats().count;
    expect(count).toBeGreaterThan(0);
    const base = await mkdtemp(path.join(os.tmpdir(), 'facegate-embdown-'));
    const down = await SqlDbStore.open({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      pgliteDir: path.join(base, 'pglite'),
      spoolDir: path.join(base, 'spool'),
      logger: silentLogger,
    });
    expect(down.health().available).toBe(false);
    const offline = await FlatEmbeddingStore.open({ dir, model, source: down, logger: silentLogger });
    expect(offline.stats()).toMatchObject({ count, loadedFrom: 'snapshot', verified: false });
    await down.close();
    await rm(base, { recursive: true, force: true });
  });

  it('rebuilds from the database when the snapshot is damaged', async () => {
    const store = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    const count = store.stats().count;
    await writeFile(path.join(dir, 'id_map.json'), '{"garbage": true');
    const reopened = await FlatEmbeddingStore.open({ dir, model, source: db, logger: silentLogger });
    expect(reopened.stats()).toMatchObject({ count, loadedFrom: 'database' });
  });
});

describe('FlatEmbeddingStore on a full disk', () => {
  it('drops a removed user from the index even when the snapshot cannot be written, and saves it once space returns', async () => {
    const disk = await mountSmallDisk('emb', 1024 * 1024);
    try {
      const onDisk = path.join(disk.dir, 'embeddings');
      const store = await FlatEmbeddingStore.open({ dir: onDisk, model, logger: silentLogger });
      const alice = entries('alice', 0, 4, 11);
      await store.add(alice);
      await store.add(entries('bob', 100, 4, 12));
      await disk.fill();

      // The removal is the database's to commit; the index in memory must follow it at once.
      await expect(store.removeUser('alice')).resolves.toBe(4);
      expect((await store.search((alice[0] as EmbeddingEntry).vector, 8)).map((m) => m.userId)).not.toContain('alice');
      expect(store.stats()).toMatchObject({ count: 4, users: 1 });

      // An add while the disk is still full is refused and undone, without bringing alice back.
      await expect(store.add(entries('carol', 200, 3, 13))).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(store.stats()).toMatchObject({ count: 4, users: 1 });
      expect((await store.search((alice[0] as EmbeddingEntry).vector, 8)).map((m) => m.userId)).not.toContain('alice');

      await disk.free(true);
      await store.close();
      const read = await readSnapshot(onDisk);
      expect(read.ok && [...read.snapshot.idMap.values()].map((e) => e.userId)).toEqual(['bob', 'bob', 'bob', 'bob']);
    } finally {
      await disk.unmount();
    }
  });
});
