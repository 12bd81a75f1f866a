// The change feed (issue 18, migration 007) as the DbStore writes and reads it: every write that
// changes a user or their embeddings appends its changes in its own transaction, numbered gaplessly
// in commit order even with two appliances writing at once (a reader following the feed while they
// write never skips a seq it later finds below its mark), NOTIFYs on commit (another store's LISTEN
// hears it; PGlite in process), and the table and its counter refuse to be rewritten. Against the
// shared PostgreSQL server, and PGlite.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Change, NewEmbedding } from '../../../storage/db/db-store.js';
import { connectPostgres } from '../../../storage/db/sql-client.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { StoreInputError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';
import { until } from '../../helpers/until.js';

const schema = uniqueSchema();
let dir: string;
let a: SqlDbStore;
let b: SqlDbStore;

function open(applianceId: string, name = applianceId) {
  return SqlDbStore.open({
    databaseUrl: SHARED_POSTGRES_URL,
    schema,
    pgliteDir: path.join(dir, `${name}-pglite`),
    spoolDir: path.join(dir, `${name}-spool`),
    logger: silentLogger,
    applianceId,
  });
}

function embedding(i: number, modelId = 'm1'): NewEmbedding {
  const v = new Float32Array(4);
  v[i % 4] = 1;
  return { image: `face_${i}.png`, modelId, vector: v };
}

async function allChanges(store: SqlDbStore): Promise<Change[]> {
  const out: Change[] = [];
  for (let after = 0n; ;) {
    const page = await store.readChanges(after, 1000);
    out.push(...page);
    if (page.length < 1000) return out;
    after = (page[page.length - 1] as Change).seq;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-feed-'));
  a = await open('site-a');
  b = await open('site-b');
});
afterAll(async () => {
  await a.close();
  await b.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await rm(dir, { recursive: true, force: true });
});

describe('the change feed on PostgreSQL', () => {
  it('records each write’s changes with its appliance, kind, user, embedding ids and model', async () => {
    const start = await a.latestChangeSeq();
    const created = await a.createUser({ id: 'U1', name: 'Ada', roles: ['staff'] }, [embedding(0), embedding(1)]);
    const more = await b.addEmbeddings('U1', [embedding(2), embedding(3, 'm2')]);
    await b.setUserStatus('U1', 'disabled');
    await a.setUserRoles('U1', ['staff', 'night']);
    const deleted = await b.deleteUser('U1');
    const changes = await a.readChanges(start, 100);
    const ids = (records: { id: bigint }[]) => records.map((r) => r.id);
    expect(changes.map((c) => [c.applianceId, c.kind, c.userId, c.embeddingIds, c.modelId])).toEqual([
      ['site-a', 'user-changed', 'U1', [], null],
      ['site-a', 'embeddings-added', 'U1', ids(created.embeddings), 'm1'],
      // One change per model: a follower of m1 skips m2's unread.
      ['site-b', 'embeddings-added', 'U1', ids(more.slice(0, 1)), 'm1'],
      ['site-b', 'embeddings-added', 'U1', ids(more.slice(1)), 'm2'],
      ['site-b', 'user-changed', 'U1', [], null],
      ['site-a', 'user-changed', 'U1', [], null],
      ['site-b', 'embeddings-removed', 'U1', [...ids(created.embeddings), ...ids(more.slice(0, 1))], 'm1'],
      ['site-b', 'embeddings-removed', 'U1', ids(more.slice(1)), 'm2'],
      ['site-b', 'user-changed', 'U1', [], null],
    ]);
    expect(deleted.embeddingIds.sort()).toEqual([...ids(created.embeddings), ...ids(more)].sort());
    expect(changes.map((c) => c.seq)).toEqual(changes.map((_c, i) => start + BigInt(i) + 1n));
    expect(await b.latestChangeSeq()).toBe(start + 9n);
    expect(changes.every((c) => c.at instanceof Date)).toBe(true);
  });

  it('writes nothing to the feed for a write that fails (rolled back with it)', async () => {
    const start = await a.latestChangeSeq();
    await a.createUser({ id: 'U2', name: 'Bo' });
    await expect(b.createUser({ id: 'u2', name: 'Twin' })).rejects.toThrow('already exists');
    await expect(a.addEmbeddings('nobody', [embedding(0)])).rejects.toThrow('no user nobody');
    await expect(a.setUserStatus('nobody', 'disabled')).rejects.toThrow('no user nobody');
    await expect(a.deleteUser('nobody')).rejects.toThrow('no user nobody');
    expect((await a.readChanges(start, 100)).map((c) => [c.seq, c.userId])).toEqual([[start + 1n, 'U2']]);
  });

  it('numbers changes gaplessly in commit order with two appliances writing at once: a follower reading meanwhile skips none', async () => {
    const start = await a.latestChangeSeq();
    const followed: Change[] = [];
    let writing = true;
    // A follower as the appliances run it: read after the mark, move the mark to the last seq read.
    const follower = (async () => {
      let mark = start;
      for (;;) {
        const done = !writing;
        const page = await a.readChanges(mark, 50);
        followed.push(...page);
        if (page.length > 0) mark = (page[page.length - 1] as Change).seq;
        if (done && page.length === 0) return;
      }
    })();
    const writer = async (store: SqlDbStore, prefix: string) => {
      for (let i = 0; i < 25; i++) {
        const id = `${prefix}${i}`;
        await store.createUser({ id, name: id }, [embedding(i)]);
        await Promise.all([store.addEmbeddings(id, [embedding(i + 1)]), store.setUserStatus(id, 'disabled')]);
      }
    };
    await Promise.all([writer(a, 'A'), writer(b, 'B'), writer(a, 'C'), writer(b, 'D')]);
    writing = false;
    await follower;
    const all = (await allChanges(a)).filter((c) => c.seq > start);
    // 4 writers x 25 users x (user-changed + added, added, user-changed).
    expect(all).toHaveLength(400);
    expect(all.map((c) => c.seq)).toEqual(all.map((_c, i) => start + BigInt(i) + 1n));
    // What the follower read as it went is the whole feed: no seq turned up below its mark later.
    expect(followed.map((c) => c.seq)).toEqual(all.map((c) => c.seq));
    expect(new Set(all.map((c) => c.applianceId))).toEqual(new Set(['site-a', 'site-b']));
  });

  it('NOTIFYs another appliance’s LISTEN on commit, with the seq', async () => {
    const heard: (bigint | null)[] = [];
    b.onChangeNotified((seq) => heard.push(seq));
    // Listening: it says so with null once the LISTEN is in place.
    await until('the LISTEN', () => heard.includes(null), 5_000);
    const start = await a.latestChangeSeq();
    await a.createUser({ id: 'U3', name: 'Cy' }, [embedding(0)]);
    await until('the notification', () => heard.includes(start + 2n), 5_000);
    // One notification per transaction, carrying its last seq.
    expect(heard.includes(start + 1n)).toBe(false);
  });

  it('refuses to rewrite the feed or wind its counter back, and checks its arguments', async () => {
    const client = connectPostgres(SHARED_POSTGRES_URL, schema, silentLogger);
    try {
      await expect(client.query('UPDATE changes SET user_id = $1', ['x'])).rejects.toThrow(
        'append-only: UPDATE on changes is not allowed',
      );
      await expect(client.query('DELETE FROM changes')).rejects.toThrow('append-only: DELETE on changes');
      await expect(client.query('TRUNCATE changes')).rejects.toThrow('append-only: TRUNCATE on changes');
      await expect(client.query('UPDATE change_seq SET seq = seq - 1')).rejects.toThrow('change_seq only counts up');
      await expect(client.query('DELETE FROM change_seq')).rejects.toThrow('change_seq only counts up');
      await expect(
        client.query(`INSERT INTO changes (seq, kind, user_id) VALUES (999999, 'renamed', 'U1')`),
      ).rejects.toThrow('changes_kind_check');
    } finally {
      await client.close();
    }
    await expect(a.readChanges(-1n, 10)).rejects.toBeInstanceOf(StoreInputError);
    await expect(a.readChanges(0n, 0)).rejects.toThrow('Expected limit in 1..10000 but received 0');
    await expect(a.readChanges(0 as unknown as bigint, 10)).rejects.toThrow('Expected afterSeq to be a bigint >= 0');
  });
});

describe('the change feed on PGlite', () => {
  it('runs the same SQL and notifies in process', async () => {
    const store = await SqlDbStore.open({
      pgliteDir: path.join(dir, 'embedded'),
      spoolDir: path.join(dir, 'embedded-spool'),
      logger: silentLogger,
    });
    try {
      const heard: (bigint | null)[] = [];
      store.onChangeNotified((seq) => heard.push(seq));
      await until('the LISTEN', () => heard.includes(null), 5_000);
      expect(await store.latestChangeSeq()).toBe(0n);
      const { embeddings } = await store.createUser({ id: 'P1', name: 'Pat' }, [embedding(0)]);
      await store.deleteUser('P1');
      expect((await store.readChanges(0n, 10)).map((c) => [c.seq, c.kind, c.embeddingIds, c.applianceId])).toEqual([
        [1n, 'user-changed', [], 'appliance-1'],
        [2n, 'embeddings-added', [embeddings[0]?.id], 'appliance-1'],
        [3n, 'embeddings-removed', [embeddings[0]?.id], 'appliance-1'],
        [4n, 'user-changed', [], 'appliance-1'],
      ]);
      await until('the notifications', () => heard.includes(2n) && heard.includes(4n), 5_000);
    } finally {
      await store.close();
    }
  });
});
