import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate } from '../../../storage/db/migrate.js';
import { connectPostgres, type SqlClient } from '../../../storage/db/sql-client.js';
import { SqlUnknownFaceRecords } from '../../../storage/db/sql-unknown-face-records.js';
import { type NewUnknownFace, parseGroupId } from '../../../storage/index.js';
import { uuidv7 } from '../../../storage/db/uuid7.js';
import { ConflictError, NotFoundError, StoreInputError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../../helpers/shared-servers.js';

// A server whose sessions run in New York time: the retention cutoff is UTC midnight whatever the
// server's zone (PostgreSQL on Windows takes the machine's zone at initdb).
const schema = uniqueSchema();
let client: SqlClient;
let records: SqlUnknownFaceRecords;
let n = 0;

beforeAll(async () => {
  const setup = connectPostgres(SHARED_POSTGRES_URL, schema, silentLogger);
  await setup.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await setup.close();
  const options = encodeURIComponent(`-c search_path=${schema} -c TimeZone=America/New_York`);
  client = connectPostgres(`${SHARED_POSTGRES_URL}?options=${options}`, undefined, silentLogger);
  expect(await client.query('SHOW TimeZone')).toEqual([{ TimeZone: 'America/New_York' }]);
  await migrate(client);
  records = new SqlUnknownFaceRecords(client, (_what, fn) => fn());
});
afterAll(async () => {
  await client?.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
});

/** A face of an unknown event seen at `seenAt` (its day folder is the UTC date). */
async function face(seenAt: Date): Promise<NewUnknownFace> {
  const eventId = uuidv7(seenAt);
  await client.query(
    `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown) VALUES ($1, $2, 'cam_1', NULL, 0.1, true)`,
    [eventId, seenAt],
  );
  const vector = new Float32Array(4).fill(0.5);
  return {
    eventId,
    cameraId: 'cam_1',
    seenAt,
    day: seenAt.toISOString().slice(0, 10),
    image: `images/unknown/x/cam_1_${n++}.png`,
    quality: 0.9,
    modelId: 'm',
    vector,
  };
}

describe('unknown-face records (PostgreSQL, a session in America/New_York)', () => {
  it('keeps a reviewed group for the retention period after its review, counted from UTC midnight', async () => {
    const kept = await records.addFace(await face(new Date('2024-01-09T12:00:00Z')), null);
    // Dismissed at 02:00 UTC on 10 January: still 9 January in New York.
    const { removed } = await records.resolveGroup({
      groupId: kept.groupId,
      status: 'dismissed',
      action: 'dismiss',
      actor: 'cli:alice',
      timestamp: new Date('2024-01-10T02:00:00Z'),
    });
    expect(removed.map((r) => r.id)).toEqual([kept.id]);
    // Reviewed on the cutoff day (UTC): kept. A server-local comparison would call it the day before.
    expect(await records.deleteFacesBefore('2024-01-10')).toEqual({ removed: [], removedGroups: [] });
    expect(await records.deleteFacesBefore('2024-01-11', { dryRun: true })).toEqual({
      removed: [],
      removedGroups: [kept.groupId],
    });
    expect(await records.deleteFacesBefore('2024-01-11')).toEqual({ removed: [], removedGroups: [kept.groupId] });
    expect(await records.getGroup(kept.groupId)).toBeNull();
    // The review trail outlives the group.
    expect((await records.reviewActions({ groupId: kept.groupId })).map((a) => a.action)).toEqual(['dismiss']);
  });

  it('removes an open group with its last face, keeps one with a newer face, and says the same in a dry run', async () => {
    const old = await records.addFace(await face(new Date('2024-02-01T23:30:00Z')), null);
    const alive = await records.addFace(await face(new Date('2024-02-01T10:00:00Z')), null);
    await records.addFace(await face(new Date('2024-02-02T00:30:00Z')), alive.groupId);
    const dry = await records.deleteFacesBefore('2024-02-02', { dryRun: true });
    expect(dry.removed.map((r) => r.id).sort()).toEqual([old.id, alive.id].sort());
    expect(dry.removedGroups).toEqual([old.groupId]);
    expect(await records.getGroup(old.groupId)).not.toBeNull();
    expect(await records.deleteFacesBefore('2024-02-02')).toEqual(dry);
    expect(await records.getGroup(alive.groupId)).toMatchObject({ faces: 1, status: 'open' });
  });

  it('refuses a face for a closed or absent group, or for an event that is not in the database', async () => {
    const kept = await records.addFace(await face(new Date('2024-03-01T12:00:00Z')), null);
    await records.resolveGroup({
      groupId: kept.groupId,
      status: 'enrolled',
      action: 'enroll',
      actor: 'cli:alice',
      userId: 'U1',
    });
    await expect(records.addFace(await face(new Date('2024-03-01T12:01:00Z')), kept.groupId)).rejects.toThrow(
      ConflictError,
    );
    await expect(records.addFace(await face(new Date('2024-03-01T12:02:00Z')), 987_654n)).rejects.toThrow(
      NotFoundError,
    );
    const orphan = { ...(await face(new Date('2024-03-01T12:03:00Z'))), eventId: uuidv7() };
    await expect(records.addFace(orphan, null)).rejects.toThrow(/foreign key/);
    // A second review of the same group, and reviews that contradict their status.
    await expect(
      records.resolveGroup({ groupId: kept.groupId, status: 'dismissed', action: 'dismiss', actor: 'cli:bob' }),
    ).rejects.toThrow(/already enrolled/);
    await expect(
      records.resolveGroup({
        groupId: kept.groupId,
        status: 'dismissed',
        action: 'dismiss',
        actor: 'cli:bob',
        userId: 'U1',
      }),
    ).rejects.toThrow(StoreInputError);
    await expect(
      records.resolveGroup({ groupId: kept.groupId, status: 'assigned', action: 'assign', actor: 'cli:bob' }),
    ).rejects.toThrow(/Expected a user id for assigned/);
  });

  it('reads group ids only as positive whole numbers', () => {
    expect(parseGroupId('42')).toBe(42n);
    expect(parseGroupId(7n)).toBe(7n);
    for (const bad of ['0', '-1', '1.5', '1e3', '0x10', ' 1', '', '9'.repeat(19), '1;DROP TABLE users', null, {}]) {
      expect(() => parseGroupId(bad)).toThrow(/^Expected a group id/);
    }
  });
});
