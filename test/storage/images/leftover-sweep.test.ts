// The start-up sweep against a real database: it removes what no committed user owns while the
// database answers, and nothing at all while it is down (what committed cannot be known then).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors } from '../../../src/bench/random-vectors.js';
import { SqlDbStore } from '../../../storage/db/sql-db-store.js';
import { FsImageStore } from '../../../storage/images/fs-image-store.js';
import { MAX_UNCOMMITTED_FOLDERS, sweepLeftoverImages } from '../../../storage/images/leftover-sweep.js';
import { silentLogger } from '../../../storage/logger.js';
import { freePort } from '../../helpers/free-port.js';
import { FACES_DIR } from '../../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

const schema = uniqueSchema();
let base: string;
let db: SqlDbStore;
let photo: Buffer;

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-sweep-'));
  db = await SqlDbStore.open({
    databaseUrl: SHARED_POSTGRES_URL,
    schema,
    pgliteDir: path.join(base, 'pglite'),
    spoolDir: path.join(base, 'spool'),
    logger: silentLogger,
  });
  photo = await fs.readFile(path.join(FACES_DIR, 'obama', 'obama_small.jpg'));
});
afterAll(async () => {
  await db.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(base, { recursive: true, force: true });
});

async function dataRootWithLeftovers(name: string): Promise<{ root: string; images: FsImageStore }> {
  const root = path.join(base, name);
  const images = new FsImageStore(root);
  // U1 is enrolled (a row); ghost's enrollment never committed.
  await images.saveOriginal('U1', photo);
  await images.saveOriginal('ghost', photo);
  return { root, images };
}

describe('sweepLeftoverImages', () => {
  it('removes the folder of an enrollment that never committed and keeps the enrolled user', async () => {
    await db.createUser(
      { id: 'U1', name: 'U1' },
      [0, 1, 2].map((i) => ({ image: `face_00${i + 1}.png`, modelId: 'm', vector: randomUnitVectors(1, 8, i) })),
    );
    const { images } = await dataRootWithLeftovers('up');

    const sweep = await sweepLeftoverImages(db, images, silentLogger);

    expect(sweep).toEqual({ ran: true, removed: [], removedFolders: ['images/users/ghost'], untouched: [] });
    expect(await images.listUsers()).toEqual(['U1']);
  });

  // A data root opened on a database that is not its own (empty, mistyped DATABASE_URL, a lost
  // PGlite folder): every enrolled person looks uncommitted. A crash leaves far fewer.
  it("removes nothing when the database knows none of more users' folders than a crash leaves, and says why", async () => {
    const root = path.join(base, 'foreign');
    const images = new FsImageStore(root);
    const people = Array.from({ length: MAX_UNCOMMITTED_FOLDERS + 1 }, (_, i) => `P${i}`);
    for (const id of people) await images.saveOriginal(id, photo);
    const before = await fs.readdir(path.join(root, 'images', 'users'), { recursive: true });

    const sweep = await sweepLeftoverImages(db, images, silentLogger);

    expect(sweep).toEqual({
      ran: false,
      reason: expect.stringMatching(
        /^the database knows none of the 3 users .* is this the data root's own database\? Nothing was removed$/,
      ) as string,
    });
    expect(await fs.readdir(path.join(root, 'images', 'users'), { recursive: true })).toEqual(before);
    // At the limit (what crashes can leave) the sweep goes ahead.
    await fs.rm(path.join(root, 'images', 'users', 'P0'), { recursive: true });
    expect(await sweepLeftoverImages(db, images, silentLogger)).toMatchObject({
      ran: true,
      removedFolders: ['images/users/P1', 'images/users/P2'],
    });
  });

  it('removes nothing while the database is down, and says why', async () => {
    const down = await SqlDbStore.open({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      pgliteDir: path.join(base, 'down-pglite'),
      spoolDir: path.join(base, 'down-spool'),
      logger: silentLogger,
    });
    try {
      const { images } = await dataRootWithLeftovers('down');
      const sweep = await sweepLeftoverImages(down, images, silentLogger);
      expect(sweep).toEqual({
        ran: false,
        reason: expect.stringMatching(/^read-only: the database is unavailable/) as string,
      });
      expect(await images.listUsers()).toEqual(['U1', 'ghost']);
    } finally {
      await down.close();
    }
  });
});
