// Unknown faces kept for review, in the database (migration 002): each saved crop with its event,
// camera, time, quality and embedding; the groups they form; and the append-only trail of review
// actions. Which group a face joins is decided above the storage layer (src/unknown-faces/); this
// file keeps the rows consistent: a group changes status once, with its audit row in the same
// transaction, and faces leave only together with their group's bookkeeping. Each group and review
// action is stamped with the appliance that made it (issue 18, migration 006); an appliance groups
// and purges only its own groups (and those made before the migration), lists every appliance's.
import { DEFAULT_APPLIANCE_ID } from '../config.js';
import { ConflictError, NotFoundError, StoreInputError } from '../errors.js';
import { validateId } from '../ids.js';
import {
  isFiniteVector,
  quoteReceived,
  requireDate,
  requireDay,
  requireFinite,
  requireLimit,
  requireText,
} from '../checks.js';
import { vectorBytes, vectorOf } from './row-checks.js';
import type { NeedDb } from './db-availability.js';
import type { SqlClient, SqlRunner } from './sql-client.js';
import { isUuid, uuidv7 } from './uuid7.js';
import {
  type GroupResolution,
  type GroupStatus,
  type NewUnknownFace,
  type RemovedFace,
  type ReviewAction,
  type ReviewActionKind,
  type UnknownFace,
  type UnknownFaceRecords,
  type UnknownGroup,
  type GroupQuery,
  GROUP_STATUSES,
  parseGroupId,
} from './unknown-face-records.js';

interface FaceRow {
  id: string;
  group_id: string;
  event_id: string;
  camera_id: string;
  seen_at: Date;
  day: string;
  image: string;
  quality: number;
  model_id: string;
  vector: Uint8Array;
}

interface GroupRow {
  id: string;
  appliance_id: string | null;
  status: GroupStatus;
  user_id: string | null;
  model_id: string;
  created_at: Date;
  resolved_at: Date | null;
  faces: number;
  first_seen: Date | null;
  last_seen: Date | null;
  cameras: string[] | null;
  best_id: string | null;
  best_image: string | null;
  best_quality: number | null;
}

interface ActionRow {
  id: string;
  appliance_id: string | null;
  timestamp: Date;
  actor: string;
  action: ReviewActionKind;
  group_id: string;
  user_id: string | null;
  details: Record<string, unknown>;
}

// `day` is read as text (to_char), so no time zone ever shifts it.
const FACE_COLUMNS = `id, group_id, event_id, camera_id, seen_at, to_char(day, 'YYYY-MM-DD') AS day, image, quality, model_id, vector`;

const GROUP_SELECT = `SELECT g.id, g.appliance_id, g.status, g.user_id, g.model_id, g.created_at, g.resolved_at,
    count(f.id)::int AS faces, min(f.seen_at) AS first_seen, max(f.seen_at) AS last_seen,
    array_remove(array_agg(DISTINCT f.camera_id), NULL) AS cameras,
    (array_agg(f.id ORDER BY f.quality DESC, f.id))[1] AS best_id,
    (array_agg(f.image ORDER BY f.quality DESC, f.id))[1] AS best_image,
    max(f.quality) AS best_quality
  FROM unknown_groups g LEFT JOIN unknown_faces f ON f.group_id = g.id`;

function toFace(row: FaceRow): UnknownFace {
  return {
    id: BigInt(row.id),
    groupId: BigInt(row.group_id),
    eventId: row.event_id,
    cameraId: row.camera_id,
    seenAt: row.seen_at,
    day: row.day,
    image: row.image,
    quality: row.quality,
    modelId: row.model_id,
    vector: vectorOf(row.vector),
  };
}

function toGroup(row: GroupRow): UnknownGroup {
  return {
    id: BigInt(row.id),
    applianceId: row.appliance_id,
    status: row.status,
    userId: row.user_id,
    modelId: row.model_id,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
    faces: row.faces,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    cameras: (row.cameras ?? []).sort(),
    best:
      row.best_id === null
        ? null
        : { faceId: BigInt(row.best_id), image: row.best_image as string, quality: row.best_quality as number },
  };
}

function toAction(row: ActionRow): ReviewAction {
  return {
    id: row.id,
    applianceId: row.appliance_id,
    timestamp: row.timestamp,
    actor: row.actor,
    action: row.action,
    groupId: BigInt(row.group_id),
    userId: row.user_id,
    details: row.details,
  };
}

function checkFace(face: NewUnknownFace): void {
  if (!isUuid(face.eventId))
    throw new StoreInputError(`Expected eventId to be a UUID but received ${quoteReceived(face.eventId, 40)}`);
  validateId('camera', face.cameraId);
  requireDate('seenAt', face.seenAt);
  requireDay('day', face.day);
  requireText('image', face.image, false);
  requireFinite('quality', face.quality, false);
  requireText('modelId', face.modelId, false);
  if (!isFiniteVector(face.vector)) {
    throw new StoreInputError('Expected vector to be a non-empty Float32Array of finite numbers');
  }
}

// The groups an appliance groups into and purges: its own, and those made before migration 006 (a
// single appliance's, which its upgrade keeps growing). `$A` is replaced by the id's parameter.
const OWN_GROUP = `(g.appliance_id = $A OR g.appliance_id IS NULL)`;

// Groups without a face from the cutoff on: open groups this purge emptied, and reviewed groups
// (a dismissal deletes its faces at once) reviewed before the cutoff, so a reviewed group stays
// visible for the retention period after its review. Deleted, or only listed in a dry run. The
// cutoff is midnight UTC, whatever the server's time zone.
async function emptyGroups(
  tx: SqlRunner,
  cutoff: string,
  purgedGroups: bigint[],
  dryRun: boolean,
  applianceId: string,
): Promise<bigint[]> {
  const empty = `NOT EXISTS (SELECT 1 FROM unknown_faces f WHERE f.group_id = g.id AND f.day >= $1)
    AND ((g.status = 'open' AND g.id = ANY($2::bigint[])) OR g.resolved_at < ($1::date)::timestamp AT TIME ZONE 'UTC')
    AND ${OWN_GROUP.replace('$A', '$3')}`;
  const sql = dryRun
    ? `SELECT id FROM unknown_groups g WHERE ${empty}`
    : `DELETE FROM unknown_groups g WHERE ${empty} RETURNING id`;
  return (await tx.query<{ id: string }>(sql, [cutoff, purgedGroups.map(String), applianceId]))
    .map((r) => BigInt(r.id))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Checks a review before any transaction starts (ids, actor, timestamp). */
export function checkResolution(
  review: GroupResolution,
): GroupResolution & { groupId: bigint; userId: string | null; timestamp: Date } {
  const groupId = parseGroupId(review.groupId);
  requireText('actor', review.actor, false);
  const userId = review.userId === undefined || review.userId === null ? null : validateId('user', review.userId);
  if ((review.status === 'dismissed') !== (userId === null)) {
    const expected = review.status === 'dismissed' ? 'no user id for a dismissal' : `a user id for ${review.status}`;
    throw new StoreInputError(`Expected ${expected} but received ${quoteReceived(userId, 40)}`);
  }
  const details = review.details ?? {};
  for (const [key, value] of Object.entries(details))
    if (typeof value === 'string') requireText(`details.${key}`, value, false);
  return { ...review, groupId, userId, timestamp: requireDate('timestamp', review.timestamp ?? new Date()) };
}

/**
 * Closes an open group and writes its review action inside the caller's transaction, so the
 * action and what it did (a user created, embeddings added, faces deleted) commit together.
 * NotFoundError for no such group, ConflictError for one already reviewed.
 */
export async function resolveGroupIn(
  tx: SqlRunner,
  review: ReturnType<typeof checkResolution>,
  applianceId: string,
): Promise<{ action: ReviewAction; removed: RemovedFace[] }> {
  const { groupId, userId, timestamp } = review;
  const [group] = await tx.query<{ status: GroupStatus }>(
    'SELECT status FROM unknown_groups WHERE id = $1 FOR UPDATE',
    [groupId],
  );
  if (!group) throw new NotFoundError(`Expected an existing unknown-face group but there is no group ${groupId}`);
  if (group.status !== 'open')
    throw new ConflictError(`Expected an open group but group ${groupId} is already ${group.status}`);
  await tx.query('UPDATE unknown_groups SET status = $2, user_id = $3, resolved_at = $4 WHERE id = $1', [
    groupId,
    review.status,
    userId,
    timestamp,
  ]);
  const removed =
    review.status === 'dismissed'
      ? (
          await tx.query<{ id: string; group_id: string; image: string }>(
            'DELETE FROM unknown_faces WHERE group_id = $1 RETURNING id, group_id, image',
            [groupId],
          )
        ).map((r) => ({ id: BigInt(r.id), groupId: BigInt(r.group_id), image: r.image }))
      : [];
  const [row] = await tx.query<ActionRow>(
    `INSERT INTO review_actions (id, "timestamp", actor, action, group_id, user_id, details, appliance_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     RETURNING id, appliance_id, "timestamp", actor, action, group_id, user_id, details`,
    [
      uuidv7(timestamp),
      timestamp,
      review.actor,
      review.action,
      groupId,
      userId,
      JSON.stringify({ ...review.details, removedFaces: removed.length }),
      applianceId,
    ],
  );
  return { action: toAction(row as ActionRow), removed };
}

/** The most event ids facesOfEvents takes at once (the longest page of events, requireLimit's bound). */
const MAX_EVENT_IDS = 1000;

export class SqlUnknownFaceRecords implements UnknownFaceRecords {
  /**
   * `needDb` is the database's availability gate (db-availability.ts): refused at once while it is
   * down (ReadOnlyError). `applianceId` is stamped on every group and review action (the store passes
   * its own, already checked; default: a single appliance's).
   */
  constructor(
    private readonly client: SqlClient,
    private readonly needDb: NeedDb,
    private readonly applianceId: string = DEFAULT_APPLIANCE_ID,
  ) {}

  async addFace(face: NewUnknownFace, groupId: bigint | null): Promise<UnknownFace> {
    checkFace(face);
    return this.needDb('keeping an unknown face', () =>
      this.client.transaction(async (tx) => {
        let group = groupId;
        if (group === null) {
          const [row] = await tx.query<{ id: string }>(
            'INSERT INTO unknown_groups (model_id, appliance_id) VALUES ($1, $2) RETURNING id',
            [face.modelId, this.applianceId],
          );
          group = BigInt((row as { id: string }).id);
        } else {
          const [row] = await tx.query<{ status: GroupStatus }>(
            'SELECT status FROM unknown_groups WHERE id = $1 FOR UPDATE',
            [group],
          );
          if (!row) throw new NotFoundError(`Expected an existing unknown-face group but there is no group ${group}`);
          if (row.status !== 'open')
            throw new ConflictError(`Expected an open group but group ${group} is ${row.status}`);
        }
        const [row] = await tx.query<FaceRow>(
          `INSERT INTO unknown_faces (group_id, event_id, camera_id, seen_at, day, image, quality, model_id, dim, vector)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${FACE_COLUMNS}`,
          [
            group,
            face.eventId,
            face.cameraId,
            face.seenAt,
            face.day,
            face.image,
            face.quality,
            face.modelId,
            face.vector.length,
            vectorBytes(face.vector),
          ],
        );
        return toFace(row as FaceRow);
      }),
    );
  }

  async openGroupFaces(modelId: string): Promise<{ id: bigint; groupId: bigint; vector: Float32Array }[]> {
    const rows = await this.needDb('reading unknown faces', () =>
      this.client.query<{ id: string; group_id: string; vector: Uint8Array }>(
        `SELECT f.id, f.group_id, f.vector FROM unknown_faces f JOIN unknown_groups g ON g.id = f.group_id
         WHERE g.status = 'open' AND f.model_id = $1 AND ${OWN_GROUP.replace('$A', '$2')} ORDER BY f.id`,
        [modelId, this.applianceId],
      ),
    );
    return rows.map((r) => ({ id: BigInt(r.id), groupId: BigInt(r.group_id), vector: vectorOf(r.vector) }));
  }

  async listGroups(query: GroupQuery = {}): Promise<UnknownGroup[]> {
    const status = query.status ?? 'open';
    if (status !== 'all' && !GROUP_STATUSES.includes(status)) {
      throw new StoreInputError(
        `Expected status to be one of ${[...GROUP_STATUSES, 'all'].join(', ')} but received ${quoteReceived(status, 40)}`,
      );
    }
    const limit = requireLimit(query.limit);
    const where: string[] = [];
    const having: string[] = [];
    const params: unknown[] = [];
    if (status !== 'all') where.push(`g.status = $${params.push(status)}`);
    if (query.appliance !== undefined)
      where.push(`g.appliance_id = $${params.push(validateId('appliance', query.appliance))}`);
    if (query.since !== undefined) having.push(`max(f.seen_at) >= $${params.push(requireDate('since', query.since))}`);
    if (query.cameraId !== undefined)
      having.push(`$${params.push(validateId('camera', query.cameraId))} = ANY(array_agg(f.camera_id))`);
    const rows = await this.needDb('listing unknown faces', () =>
      this.client.query<GroupRow>(
        `${GROUP_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY g.id
         ${having.length ? `HAVING ${having.join(' AND ')}` : ''} ORDER BY max(f.seen_at) DESC NULLS LAST, g.id DESC LIMIT ${limit}`,
        params,
      ),
    );
    return rows.map(toGroup);
  }

  async getGroup(id: bigint): Promise<UnknownGroup | null> {
    const groupId = parseGroupId(id);
    const rows = await this.needDb('reading an unknown-face group', () =>
      this.client.query<GroupRow>(`${GROUP_SELECT} WHERE g.id = $1 GROUP BY g.id`, [groupId]),
    );
    return rows[0] ? toGroup(rows[0]) : null;
  }

  async groupFaces(id: bigint): Promise<UnknownFace[]> {
    const groupId = parseGroupId(id);
    const rows = await this.needDb('reading unknown faces', () =>
      this.client.query<FaceRow>(
        `SELECT ${FACE_COLUMNS} FROM unknown_faces WHERE group_id = $1 ORDER BY quality DESC, id`,
        [groupId],
      ),
    );
    return rows.map(toFace);
  }

  async resolveGroup(review: GroupResolution): Promise<{ action: ReviewAction; removed: RemovedFace[] }> {
    const checked = checkResolution(review);
    return this.needDb('reviewing an unknown-face group', () =>
      this.client.transaction((tx) => resolveGroupIn(tx, checked, this.applianceId)),
    );
  }

  async deleteFacesBefore(
    cutoffDay: string,
    options: { dryRun?: boolean } = {},
  ): Promise<{ removed: RemovedFace[]; removedGroups: bigint[] }> {
    const cutoff = requireDay('cutoffDay', cutoffDay);
    const dryRun = options.dryRun ?? false;
    return this.needDb('purging unknown faces', () =>
      this.client.transaction(async (tx) => {
        const own = `day < $1 AND group_id IN (SELECT g.id FROM unknown_groups g WHERE ${OWN_GROUP.replace('$A', '$2')})`;
        const rows = await tx.query<{ id: string; group_id: string; image: string }>(
          dryRun
            ? `SELECT id, group_id, image FROM unknown_faces WHERE ${own} ORDER BY id`
            : `DELETE FROM unknown_faces WHERE ${own} RETURNING id, group_id, image`,
          [cutoff, this.applianceId],
        );
        const removed = rows.map((r) => ({ id: BigInt(r.id), groupId: BigInt(r.group_id), image: r.image }));
        const purgedGroups = [...new Set(removed.map((r) => r.groupId))];
        return { removed, removedGroups: await emptyGroups(tx, cutoff, purgedGroups, dryRun, this.applianceId) };
      }),
    );
  }

  async reviewActions(query: { groupId?: bigint; limit?: number } = {}): Promise<ReviewAction[]> {
    const limit = requireLimit(query.limit);
    const rows = await this.needDb('reading review actions', () =>
      query.groupId === undefined
        ? this.client.query<ActionRow>(`SELECT * FROM review_actions ORDER BY id DESC LIMIT ${limit}`)
        : this.client.query<ActionRow>(
            `SELECT * FROM review_actions WHERE group_id = $1 ORDER BY id DESC LIMIT ${limit}`,
            [parseGroupId(query.groupId)],
          ),
    );
    return rows.map(toAction);
  }

  async facesOfEvents(eventIds: string[]): Promise<Map<string, { groupId: bigint; faceId: bigint }>> {
    if (!Array.isArray(eventIds) || eventIds.length > MAX_EVENT_IDS) {
      throw new StoreInputError(
        `Expected a list of at most ${MAX_EVENT_IDS} event ids but received ${Array.isArray(eventIds) ? `${eventIds.length} ids` : quoteReceived(eventIds, 40)}`,
      );
    }
    const bad = eventIds.find((id) => !isUuid(id));
    if (bad !== undefined)
      throw new StoreInputError(`Expected event ids (UUIDs) but received ${quoteReceived(bad, 40)}`);
    const found = new Map<string, { groupId: bigint; faceId: bigint }>();
    if (eventIds.length === 0) return found;
    // One lookup through unknown_faces' UNIQUE (event_id) index, whatever the page's length.
    const rows = await this.needDb('reading unknown faces', () =>
      this.client.query<{ id: string; group_id: string; event_id: string }>(
        'SELECT id, group_id, event_id FROM unknown_faces WHERE event_id = ANY($1::uuid[])',
        [eventIds],
      ),
    );
    for (const r of rows) found.set(r.event_id, { groupId: BigInt(r.group_id), faceId: BigInt(r.id) });
    return found;
  }
}
