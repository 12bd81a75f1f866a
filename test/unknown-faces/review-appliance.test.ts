// Several appliances on one database (issue 18): every appliance lists every group, but a group is
// reviewed only at the appliance that saw it, because its crops are on that appliance's disk.
// Two appliances (two data roots, two ids) on one PostgreSQL schema; A keeps a stranger; B may not
// enrol, assign or dismiss his group (409, saying where to review it) and changes nothing; A may.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { assignGroup, dismissGroup, enrollGroup, listGroups } from '../../src/unknown-faces/review.js';
import { ConflictError } from '../../storage/errors.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

const schema = uniqueSchema();
const MODEL = { id: 'test-model@1', dim: 8 };
let root: string;
let a: Storage;
let b: Storage;

function unit(seed: number): Float32Array {
  const v = Float32Array.from({ length: MODEL.dim }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

async function open(applianceId: string): Promise<Storage> {
  return openStorage(
    parseStorageConfig({ dataRoot: path.join(root, applianceId), databaseUrl: SHARED_POSTGRES_URL, applianceId }),
    { embeddingModel: MODEL, schema },
  );
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-review-appliance-'));
  a = await open('site-a');
  b = await open('site-b');
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(root, { recursive: true, force: true });
});

describe('reviewing a group at the appliance that saw it', () => {
  it("refuses enrol, assign and dismiss of another appliance's group at B, changing nothing, and lets A dismiss it", async () => {
    const grouping = new UnknownFaceGrouping(a, 0.5, silentLogger);
    const aligned = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(128) };
    const kept = await keepUnknownFace(
      a,
      grouping,
      { aligned, quality: { score: 0.9 } as never, embedding: { modelId: MODEL.id, vector: unit(1) } },
      'gate_1',
    );
    const groupId = kept.face.groupId;
    // B lists it, tagged with A's id.
    expect((await listGroups(b)).find((g) => g.id === groupId)).toMatchObject({
      applianceId: 'site-a',
      status: 'open',
    });

    const atB = { storage: b, grouping: new UnknownFaceGrouping(b, 0.5, silentLogger), logger: silentLogger };
    const refusals = [
      enrollGroup(atB, { groupId: groupId.toString(), actor: 'cli:bob', userId: 'stranger', name: 'Stranger' }),
      assignGroup(atB, { groupId: groupId.toString(), actor: 'cli:bob', userId: 'someone' }),
      dismissGroup(atB, { groupId: groupId.toString(), actor: 'cli:bob' }),
    ];
    for (const refusal of refusals) {
      const error = await refusal.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toMatch(/was seen by appliance site-a: review it there, where its crops are/);
    }
    expect(await b.db.getUser('stranger')).toBeNull();
    expect((await b.db.unknown.getGroup(groupId))?.status).toBe('open');
    expect(await b.db.unknown.reviewActions({ groupId })).toEqual([]);

    const atA = { storage: a, grouping, logger: silentLogger };
    const dismissed = await dismissGroup(atA, { groupId: groupId.toString(), actor: 'cli:ada' });
    expect(dismissed.group.status).toBe('dismissed');
    expect(dismissed.action).toMatchObject({ actor: 'cli:ada', applianceId: 'site-a' });
  });
});
