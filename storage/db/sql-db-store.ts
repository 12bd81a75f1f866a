// The DbStore on PostgreSQL (a server through `pg`, or PGlite in the data root), with the LLD's
// "DB down -> read-only mode": while the server is unreachable, or answers but refuses writes (a
// read-only server, a hot standby after a failover), writes that need it fail at once with
// ReadOnlyError, events go to the durable spool, and a probe with backoff notices the server's
// return, applies pending migrations, and replays the spool. The state machine of that mode is
// db-availability.ts, which this store and its unknown-face records both receive. The store writes
// as one appliance (issue 18): it stamps its id on every event, camera event, review action and
// unknown-face group itself, in the row it inserts or spools, so no caller can forget it. Every
// write that changes a user or their embeddings appends its changes to the change feed (migration
// 007) in its own transaction and NOTIFYs the appliances on commit (appendChanges below).
import { ConflictError, NotFoundError, StoreInputError } from '../errors.js';
import { validateId } from '../ids.js';
import type { Logger } from '../logger.js';
import type {
  CameraEvent,
  DbHealth,
  DbStore,
  EmbeddingRecord,
  EventQuery,
  EventWrite,
  NewEmbedding,
  NewUser,
  RecognitionEvent,
  StoredCameraEvent,
  StoredRecognitionEvent,
  User,
  UserStatus,
  WithReview,
  CorrectionRaise,
  MatchCorrection,
  NewMatchCorrection,
  NewThresholdCalibration,
  ThresholdCalibration,
  AccessVerdictKind,
  EventAccess,
  Change,
  ChangeKind,
} from './db-store.js';
import { ACCESS_VERDICTS, CHANGE_CHANNEL, EVENT_OUTCOMES } from './db-store.js';
import { DEFAULT_APPLIANCE_ID } from '../config.js';
import { DbAvailability, type NeedDb } from './db-availability.js';
import { EventSpool, type SpooledEvent } from './event-spool.js';
import { migrate } from './migrate.js';
import {
  checkSchemaName,
  connectPostgres,
  isConnectionError,
  openPglite,
  type SqlClient,
  type SqlRunner,
} from './sql-client.js';
import {
  alreadyMarkedMessage,
  correctionRaises,
  correctionRow,
  insertCorrection,
  userCorrections,
} from './match-corrections.js';
import {
  isFiniteVector,
  isPrintableLine,
  quoteReceived,
  requireDate,
  requireFinite,
  requireLimit,
  requirePrintableText,
  requireText,
} from '../checks.js';
import { isRowError, vectorBytes, vectorOf } from './row-checks.js';
import { calibrationInsert, calibrationStrangers, latestCalibration } from './threshold-calibrations.js';
import { checkResolution, resolveGroupIn, SqlUnknownFaceRecords } from './sql-unknown-face-records.js';
import type { UnknownFaceRecords } from './unknown-face-records.js';
import { isUuid, uuidv7 } from './uuid7.js';

export interface SqlDbStoreOptions {
  /** A PostgreSQL server; without one, PGlite runs in `pgliteDir`. */
  databaseUrl?: string | undefined;
  pgliteDir: string;
  spoolDir: string;
  /** A schema to work in (tests and benchmarks isolate themselves this way). */
  schema?: string | undefined;
  logger: Logger;
  /** Backoff of the reconnect probe: from min doubling to max. Default 250 ms to 5 s. */
  probeMs?: { min: number; max: number };
  /** The appliance this store writes as (storage's id rule); default DEFAULT_APPLIANCE_ID (a single appliance). */
  applianceId?: string | undefined;
}

// Rows as they travel to the database and through the spool: plain JSON.
interface RecognitionRow {
  id: string;
  timestamp: string;
  cameraId: string;
  matchedUserId: string | null;
  confidence: number;
  trackId: string | null;
  modelId: string | null;
  threshold: number | null;
  /** Absent in lines spooled before migration 005: replayed as null. */
  accessVerdict?: AccessVerdictKind | null;
  accessReason?: string | null;
  /** Absent in lines spooled before migration 006: replayed as null (written before appliance ids). */
  applianceId?: string | null;
}
interface CameraRow {
  id: string;
  timestamp: string;
  cameraId: string;
  eventType: string;
  details: Record<string, unknown>;
  /** As RecognitionRow's. */
  applianceId?: string | null;
}

interface UserSqlRow {
  id: string;
  name: string;
  department: string | null;
  status: UserStatus;
  created_at: Date;
  roles: string[] | null;
}
interface EmbeddingSqlRow {
  id: string | number | bigint;
  user_id: string;
  image: string;
  model_id: string;
  vector: Uint8Array;
  created_at: Date;
}

const USER_SELECT = `SELECT u.id, u.name, u.department, u.status, u.created_at,
    COALESCE(array_agg(r.role_name ORDER BY r.role_name) FILTER (WHERE r.role_name IS NOT NULL), '{}') AS roles
  FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id`;

function toUser(row: UserSqlRow): User {
  return {
    id: row.id,
    name: row.name,
    department: row.department,
    status: row.status,
    createdAt: row.created_at,
    roles: row.roles ?? [],
  };
}

function toEmbedding(row: EmbeddingSqlRow): EmbeddingRecord {
  return {
    id: BigInt(row.id),
    userId: row.user_id,
    image: row.image,
    modelId: row.model_id,
    vector: vectorOf(row.vector),
    createdAt: row.created_at,
  };
}

function checkEmbedding(e: NewEmbedding, i: number): void {
  requireText(`embeddings[${i}].image`, e.image, false);
  requireText(`embeddings[${i}].modelId`, e.modelId, false);
  if (!isFiniteVector(e.vector)) {
    throw new StoreInputError(`Expected embeddings[${i}].vector to be a non-empty Float32Array of finite numbers`);
  }
}

/** An access reason's longest (migration 005's CHECK). */
const MAX_ACCESS_REASON = 500;

function isAccessVerdict(value: unknown): value is AccessVerdictKind {
  return (ACCESS_VERDICTS as readonly unknown[]).includes(value);
}

function requireVerdict(name: string, value: unknown): AccessVerdictKind {
  if (!isAccessVerdict(value)) {
    throw new StoreInputError(
      `Expected ${name} to be one of ${ACCESS_VERDICTS.join(', ')} but received ${quoteReceived(value, 40)}`,
    );
  }
  return value;
}

/** An event's access verdict as stored: both columns null without one. */
function accessColumns(access: unknown): { accessVerdict: AccessVerdictKind | null; accessReason: string | null } {
  if (access === undefined || access === null) return { accessVerdict: null, accessReason: null };
  if (typeof access !== 'object' || Array.isArray(access)) {
    throw new StoreInputError(
      `Expected access to be { verdict, reason } or null but received ${quoteReceived(access, 40)}`,
    );
  }
  const { verdict, reason } = access as Partial<EventAccess>;
  const accessVerdict = requireVerdict('access.verdict', verdict);
  if (!isPrintableLine(reason, MAX_ACCESS_REASON)) {
    throw new StoreInputError(
      `Expected access.reason to be printable text of 1-${MAX_ACCESS_REASON} characters (not blank, no control or format characters) but received ${quoteReceived(reason, 40)}`,
    );
  }
  return { accessVerdict, accessReason: reason };
}

function recognitionRow(e: RecognitionEvent, applianceId: string): RecognitionRow {
  const timestamp = requireDate('timestamp', e.timestamp);
  if (e.id !== undefined && !isUuid(e.id))
    throw new StoreInputError(`Expected id to be a UUID but received ${String(e.id)}`);
  return {
    id: e.id ?? uuidv7(timestamp),
    timestamp: timestamp.toISOString(),
    cameraId: validateId('camera', e.cameraId),
    matchedUserId: e.matchedUserId === null ? null : validateId('user', e.matchedUserId),
    confidence: requireFinite('confidence', e.confidence, false) as number,
    trackId: requireText('trackId', e.trackId, true),
    modelId: requireText('modelId', e.modelId, true),
    threshold: requireFinite('threshold', e.threshold, true),
    ...accessColumns(e.access),
    applianceId,
  };
}

function cameraRow(e: CameraEvent, applianceId: string): CameraRow {
  const timestamp = requireDate('timestamp', e.timestamp);
  if (e.id !== undefined && !isUuid(e.id))
    throw new StoreInputError(`Expected id to be a UUID but received ${String(e.id)}`);
  const details = e.details ?? {};
  if (typeof details !== 'object' || Array.isArray(details) || JSON.stringify(details).includes('\\u0000')) {
    throw new StoreInputError('Expected details to be a plain object without NUL characters');
  }
  return {
    id: e.id ?? uuidv7(timestamp),
    timestamp: timestamp.toISOString(),
    cameraId: validateId('camera', e.cameraId),
    eventType: requireText('eventType', e.eventType, false) as string,
    details,
    applianceId,
  };
}

// Batched inserts: one statement per batch through unnest(), and ON CONFLICT so a replayed or
// retried event id is kept once.
async function insertRecognitions(db: SqlRunner, rows: RecognitionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO recognition_events (id, "timestamp", camera_id, matched_user_id, confidence, is_unknown, track_id, model_id, threshold,
       access_verdict, access_reason, appliance_id)
     SELECT id, ts, camera, matched, confidence, matched IS NULL, track, model, threshold, verdict, reason, appliance
     FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::real[], $6::text[], $7::text[], $8::real[],
       $9::text[], $10::text[], $11::text[])
       AS t(id, ts, camera, matched, confidence, track, model, threshold, verdict, reason, appliance)
     ON CONFLICT (id) DO NOTHING`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.timestamp),
      rows.map((r) => r.cameraId),
      rows.map((r) => r.matchedUserId),
      rows.map((r) => r.confidence),
      rows.map((r) => r.trackId),
      rows.map((r) => r.modelId),
      rows.map((r) => r.threshold),
      // A line spooled before migration 005 has neither field: no verdict.
      rows.map((r) => r.accessVerdict ?? null),
      rows.map((r) => r.accessReason ?? null),
      // A line spooled before migration 006 has no appliance: it was written before appliance ids.
      rows.map((r) => r.applianceId ?? null),
    ],
  );
}

async function insertCameraEvents(db: SqlRunner, rows: CameraRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO camera_events (id, camera_id, event_type, "timestamp", details, appliance_id)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::text[])
     ON CONFLICT (id) DO NOTHING`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.cameraId),
      rows.map((r) => r.eventType),
      rows.map((r) => r.timestamp),
      rows.map((r) => JSON.stringify(r.details)),
      rows.map((r) => r.applianceId ?? null),
    ],
  );
}

function eventFilter(q: EventQuery, userColumn: string | null): { where: string; params: unknown[]; limit: number } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    clauses.push(clause.replace('?', `$${params.length}`));
  };
  if (q.since !== undefined) add('"timestamp" >= ?', requireDate('since', q.since));
  if (q.until !== undefined) add('"timestamp" < ?', requireDate('until', q.until));
  if (q.cameraId !== undefined) add('camera_id = ?', validateId('camera', q.cameraId));
  if (q.appliance !== undefined) add('appliance_id = ?', validateId('appliance', q.appliance));
  if (q.userId !== undefined) {
    if (!userColumn) throw new StoreInputError('camera events have no user to filter by');
    add(`${userColumn} = ?`, validateId('user', q.userId));
  }
  if (q.access !== undefined) {
    if (!userColumn) throw new StoreInputError('camera events have no access verdict to filter by');
    add('access_verdict = ?', requireVerdict('access', q.access));
  }
  if (q.outcome !== undefined) {
    if (!userColumn) throw new StoreInputError('camera events have no known/unknown outcome to filter by');
    if (!(EVENT_OUTCOMES as readonly unknown[]).includes(q.outcome))
      throw new StoreInputError(
        `Expected outcome to be one of ${EVENT_OUTCOMES.join(', ')} but received ${quoteReceived(q.outcome, 40)}`,
      );
    add('is_unknown = ?', q.outcome === 'unknown');
  }
  if (q.before !== undefined) {
    if (!isUuid(q.before))
      throw new StoreInputError(`Expected before to be an event id (UUID) but received ${String(q.before)}`);
    add('id < ?', q.before);
  }
  const limit = requireLimit(q.limit);
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params, limit };
}

// --- The change feed (migration 007) ---

/** A change as a write records it; the store adds seq, time and its appliance id. */
interface NewChange {
  kind: ChangeKind;
  userId: string;
  embeddingIds?: bigint[];
  modelId?: string | null;
}

/** The most changes one readChanges returns. */
const MAX_CHANGES_READ = 10_000;
/** How long a broken LISTEN connection waits before the next try while the database answers otherwise. */
const RELISTEN_MS = 2_000;

/** One change per model for embeddings added or removed (a follower skips another model's changes unread). */
function embeddingChanges(
  kind: 'embeddings-added' | 'embeddings-removed',
  userId: string,
  rows: { id: bigint; modelId: string }[],
): NewChange[] {
  const byModel = new Map<string, bigint[]>();
  for (const r of rows) byModel.set(r.modelId, [...(byModel.get(r.modelId) ?? []), r.id]);
  return [...byModel].map(([modelId, embeddingIds]) => ({ kind, userId, embeddingIds, modelId }));
}

/**
 * Appends `changes` inside the caller's transaction, as its last statements: the counter row's
 * lock is held from here to the commit, so seqs are gapless and commit in seq order (migration 007
 * says why), and taking it last keeps that turn short and the lock order the same in every writer.
 * The NOTIFY is delivered on commit, and not at all on a rollback.
 */
async function appendChanges(tx: SqlRunner, applianceId: string, changes: NewChange[]): Promise<void> {
  if (changes.length === 0) return;
  const [row] = await tx.query<{ seq: string | number | bigint }>(
    'UPDATE change_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq',
    [changes.length],
  );
  if (!row) throw new Error('the change_seq counter row is missing (migration 007 inserts it)');
  const last = BigInt(row.seq);
  let seq = last - BigInt(changes.length);
  for (const c of changes) {
    seq += 1n;
    await tx.query(
      `INSERT INTO changes (seq, appliance_id, kind, user_id, embedding_ids, model_id)
       VALUES ($1, $2, $3, $4, $5::bigint[], $6)`,
      [
        seq.toString(),
        applianceId,
        c.kind,
        c.userId,
        (c.embeddingIds ?? []).map((id) => id.toString()),
        c.modelId ?? null,
      ],
    );
  }
  await tx.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, last.toString()]);
}

interface ChangeSqlRow {
  seq: string | number | bigint;
  at: Date;
  appliance_id: string | null;
  kind: ChangeKind;
  user_id: string;
  embedding_ids: (string | number | bigint)[] | null;
  model_id: string | null;
}

function toChange(r: ChangeSqlRow): Change {
  return {
    seq: BigInt(r.seq),
    at: r.at,
    applianceId: r.appliance_id,
    kind: r.kind,
    userId: r.user_id,
    embeddingIds: (r.embedding_ids ?? []).map((id) => BigInt(id)),
    modelId: r.model_id,
  };
}

function requireSeq(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint' || value < 0n) {
    const received = typeof value === 'bigint' ? `${value}n` : quoteReceived(value, 40);
    throw new StoreInputError(`Expected ${name} to be a bigint >= 0 but received ${received}`);
  }
  return value;
}

// --- end of the change feed ---

/** Roles a user may hold: enough for any site's doors, few enough that a request cannot flood the tables. */
export const MAX_ROLES_PER_USER = 32;

/** A user's role names, each printable text; at most MAX_ROLES_PER_USER. */
function roleNames(roles: unknown): string[] {
  if (!Array.isArray(roles)) {
    throw new StoreInputError(`Expected roles to be an array of role names but received ${quoteReceived(roles, 40)}`);
  }
  if (roles.length > MAX_ROLES_PER_USER) {
    throw new StoreInputError(`Expected at most ${MAX_ROLES_PER_USER} roles but received ${roles.length}`);
  }
  return roles.map((r, i) => requirePrintableText(`roles[${i}]`, r, false) as string);
}

export class SqlDbStore implements DbStore {
  private migrated = false;
  private readonly availability: DbAvailability;
  /** The availability's gate: refused at once while the database is down (ReadOnlyError). */
  private readonly needDb: NeedDb;
  readonly unknown: UnknownFaceRecords;
  private readonly changeListeners: ((seq: bigint | null) => void)[] = [];
  /** Stops the LISTEN for changes; null while not listening. */
  private stopListening: (() => Promise<void>) | null = null;
  private listenAttempt: Promise<void> | null = null;
  private relistenTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly client: SqlClient,
    private readonly spool: EventSpool,
    private readonly logger: Logger,
    probeMs: { min: number; max: number },
    private readonly schema: string | undefined,
    readonly applianceId: string,
  ) {
    const steps = {
      ready: () => this.ready(),
      resumed: async () => {
        await this.replaySpool();
      },
    };
    this.availability = new DbAvailability(steps, logger, probeMs);
    this.needDb = this.availability.needDb;
    this.unknown = new SqlUnknownFaceRecords(client, this.availability.needDb, applianceId);
    // The LISTEN connection is lost with the database: listen again when it is back.
    this.availability.onAvailable(() => void this.listenForChanges());
  }

  /** Opens the store. An unreachable server does not fail the open: the store starts read-only and keeps probing. */
  static async open(options: SqlDbStoreOptions): Promise<SqlDbStore> {
    // Refused before anything opens: an id that breaks the rule would be refused by every insert.
    const applianceId = validateId('appliance', options.applianceId ?? DEFAULT_APPLIANCE_ID);
    const spool = await EventSpool.open(options.spoolDir, options.logger);
    const client = options.databaseUrl
      ? connectPostgres(options.databaseUrl, options.schema, options.logger)
      : await openPglite(options.pgliteDir, options.schema);
    const store = new SqlDbStore(
      client,
      spool,
      options.logger,
      options.probeMs ?? { min: 250, max: 5_000 },
      options.schema === undefined ? undefined : checkSchemaName(options.schema),
      applianceId,
    );
    await store.availability.probe();
    return store;
  }

  onAvailable(listener: () => void): void {
    this.availability.onAvailable(listener);
  }

  health(): DbHealth {
    return {
      engine: this.client.engine,
      available: this.availability.available,
      spooled: this.spool.size(),
      lastError: this.availability.lastError,
    };
  }

  async createUser(
    user: NewUser,
    embeddings: NewEmbedding[] = [],
    options: WithReview & { corrections?: NewMatchCorrection[] } = {},
  ) {
    const id = validateId('user', user.id);
    const name = requirePrintableText('name', user.name, false);
    const department = requirePrintableText('department', user.department, true);
    const roles = roleNames(user.roles ?? []);
    embeddings.forEach(checkEmbedding);
    const review = options.review ? checkResolution(options.review) : null;
    const corrections = (options.corrections ?? []).map((c, i) => correctionRow(c, i));
    const created = this.needDb('creating a user', () =>
      this.client.transaction(async (tx) => {
        const existing = await tx.query<{ id: string }>('SELECT id FROM users WHERE lower(id) = lower($1)', [id]);
        if (existing[0]) {
          const same =
            existing[0].id === id
              ? ''
              : ` (as ${existing[0].id}: ids differ only in case, and Windows folder names ignore case)`;
          throw new ConflictError(`Expected a new user id but user ${id} already exists${same}`);
        }
        await tx.query('INSERT INTO users (id, name, department) VALUES ($1, $2, $3)', [id, name, department]);
        for (const role of roles) await this.linkRole(tx, id, role);
        const records = await this.insertEmbeddings(tx, id, embeddings);
        const resolved = review ? (await resolveGroupIn(tx, review, this.applianceId)).action : null;
        for (const c of corrections) await insertCorrection(tx, c);
        const [row] = await tx.query<UserSqlRow>(`${USER_SELECT} WHERE u.id = $1 GROUP BY u.id`, [id]);
        await appendChanges(tx, this.applianceId, [
          { kind: 'user-changed', userId: id },
          ...embeddingChanges(
            'embeddings-added',
            id,
            records.map((r) => ({ id: r.id, modelId: r.modelId })),
          ),
        ]);
        return { user: toUser(row as UserSqlRow), embeddings: records, review: resolved };
      }),
    );
    // Two enrollments of U1 and u1 at once: the unique index decides, and says it like the check above.
    return created.catch((error: unknown) => {
      if ((error as { code?: unknown }).code === '23505') {
        throw new ConflictError(
          `Expected a new user id but user ${id} already exists (ids are unique regardless of case)`,
        );
      }
      throw error;
    });
  }

  async getUser(id: string): Promise<User | null> {
    validateId('user', id);
    const rows = await this.needDb('reading a user', () =>
      this.client.query<UserSqlRow>(`${USER_SELECT} WHERE u.id = $1 GROUP BY u.id`, [id]),
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  async listUsers(filter: { status?: UserStatus } = {}): Promise<User[]> {
    const rows = await this.needDb('listing users', () =>
      filter.status
        ? this.client.query<UserSqlRow>(`${USER_SELECT} WHERE u.status = $1 GROUP BY u.id ORDER BY u.id`, [
            filter.status,
          ])
        : this.client.query<UserSqlRow>(`${USER_SELECT} GROUP BY u.id ORDER BY u.id`),
    );
    return rows.map(toUser);
  }

  async setUserStatus(id: string, status: UserStatus): Promise<User> {
    validateId('user', id);
    if (status !== 'active' && status !== 'disabled') {
      throw new StoreInputError(`Expected status active or disabled but received ${String(status)}`);
    }
    await this.needDb('changing a user', () =>
      this.client.transaction(async (tx) => {
        const rows = await tx.query('UPDATE users SET status = $2 WHERE id = $1 RETURNING id', [id, status]);
        if (rows.length === 0) throw new NotFoundError(`Expected an existing user but there is no user ${id}`);
        await appendChanges(tx, this.applianceId, [{ kind: 'user-changed', userId: id }]);
      }),
    );
    return (await this.getUser(id)) as User;
  }

  async setUserRoles(userId: string, roles: string[]): Promise<User> {
    const id = validateId('user', userId);
    // The rule createUser applies; a name given twice is linked once.
    const names = [...new Set(roleNames(roles))];
    return this.needDb("changing a user's roles", () =>
      this.client.transaction(async (tx) => {
        const user = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
        if (user.length === 0) throw new NotFoundError(`Expected an existing user but there is no user ${id}`);
        await tx.query('DELETE FROM user_roles WHERE user_id = $1', [id]);
        for (const role of names) await this.linkRole(tx, id, role);
        const [row] = await tx.query<UserSqlRow>(`${USER_SELECT} WHERE u.id = $1 GROUP BY u.id`, [id]);
        await appendChanges(tx, this.applianceId, [{ kind: 'user-changed', userId: id }]);
        return toUser(row as UserSqlRow);
      }),
    );
  }

  async deleteUser(id: string): Promise<{ embeddingIds: bigint[] }> {
    validateId('user', id);
    return this.needDb('deleting a user', () =>
      this.client.transaction(async (tx) => {
        // The user's row first: an addEmbeddings committing between the SELECT and the DELETE would
        // have its rows cascaded away unlisted (missing from the index's removal and the feed).
        const user = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
        if (user.length === 0) throw new NotFoundError(`Expected an existing user but there is no user ${id}`);
        const rows = await tx.query<{ id: string | number; model_id: string }>(
          'SELECT id, model_id FROM face_embeddings WHERE user_id = $1 ORDER BY id',
          [id],
        );
        await tx.query('DELETE FROM users WHERE id = $1', [id]);
        const removed = rows.map((r) => ({ id: BigInt(r.id), modelId: r.model_id }));
        await appendChanges(tx, this.applianceId, [
          ...embeddingChanges('embeddings-removed', id, removed),
          { kind: 'user-changed', userId: id },
        ]);
        return { embeddingIds: removed.map((r) => r.id) };
      }),
    );
  }

  async addEmbeddings(
    userId: string,
    embeddings: NewEmbedding[],
    options: WithReview = {},
  ): Promise<EmbeddingRecord[]> {
    validateId('user', userId);
    embeddings.forEach(checkEmbedding);
    const review = options.review ? checkResolution(options.review) : null;
    return this.needDb('adding embeddings', () =>
      this.client.transaction(async (tx) => {
        const user = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
        if (user.length === 0) throw new NotFoundError(`Expected an existing user but there is no user ${userId}`);
        const records = await this.insertEmbeddings(tx, userId, embeddings);
        if (review) await resolveGroupIn(tx, review, this.applianceId);
        await appendChanges(
          tx,
          this.applianceId,
          embeddingChanges(
            'embeddings-added',
            userId,
            records.map((r) => ({ id: r.id, modelId: r.modelId })),
          ),
        );
        return records;
      }),
    );
  }

  async listEmbeddings(modelId: string): Promise<EmbeddingRecord[]> {
    const rows = await this.needDb('reading embeddings', () =>
      this.client.query<EmbeddingSqlRow>(
        'SELECT id, user_id, image, model_id, vector, created_at FROM face_embeddings WHERE model_id = $1 ORDER BY id',
        [modelId],
      ),
    );
    return rows.map(toEmbedding);
  }

  async embeddingIds(modelId: string): Promise<bigint[]> {
    const rows = await this.needDb('reading embeddings', () =>
      this.client.query<{ id: string | number }>('SELECT id FROM face_embeddings WHERE model_id = $1 ORDER BY id', [
        modelId,
      ]),
    );
    return rows.map((r) => BigInt(r.id));
  }

  async countEmbeddings(userId: string): Promise<number> {
    validateId('user', userId);
    const [row] = await this.needDb('counting embeddings', () =>
      this.client.query<{ n: number }>('SELECT count(*)::int AS n FROM face_embeddings WHERE user_id = $1', [userId]),
    );
    return row?.n ?? 0;
  }

  async recordRecognition(event: RecognitionEvent): Promise<EventWrite> {
    return (await this.recordRecognitions([event]))[0] as EventWrite;
  }

  async recordRecognitions(events: RecognitionEvent[]): Promise<EventWrite[]> {
    const rows = events.map((e) => recognitionRow(e, this.applianceId));
    const stored = await this.writeEvents(
      () => insertRecognitions(this.client, rows),
      rows.map((event) => ({ kind: 'recognition', event: { ...event } })),
    );
    return rows.map((r) => ({ id: r.id, stored }));
  }

  async recordCameraEvent(event: CameraEvent): Promise<EventWrite> {
    const row = cameraRow(event, this.applianceId);
    const stored = await this.writeEvents(
      () => insertCameraEvents(this.client, [row]),
      [{ kind: 'camera', event: { ...row } }],
    );
    return { id: row.id, stored };
  }

  async queryRecognitionEvents(query: EventQuery = {}): Promise<StoredRecognitionEvent[]> {
    const { where, params, limit } = eventFilter(query, 'matched_user_id');
    const rows = await this.needDb('reading events', () =>
      this.client.query<RecognitionEventRow>(
        `SELECT * FROM recognition_events ${where} ORDER BY id DESC LIMIT ${limit}`,
        params,
      ),
    );
    return rows.map(recognitionEventOf);
  }

  async queryCameraEvents(query: EventQuery = {}): Promise<StoredCameraEvent[]> {
    const { where, params, limit } = eventFilter(query, null);
    const rows = await this.needDb('reading events', () =>
      this.client.query<{
        id: string;
        appliance_id: string | null;
        timestamp: Date;
        camera_id: string;
        event_type: string;
        details: Record<string, unknown>;
      }>(`SELECT * FROM camera_events ${where} ORDER BY id DESC LIMIT ${limit}`, params),
    );
    return rows.map((r) => ({
      id: r.id,
      applianceId: r.appliance_id,
      timestamp: r.timestamp,
      cameraId: r.camera_id,
      eventType: r.event_type,
      details: r.details,
    }));
  }

  // --- Match corrections (issue 13; the rows and their checks: match-corrections.ts) ---

  async getRecognitionEvent(id: string): Promise<StoredRecognitionEvent | null> {
    if (!isUuid(id)) throw new StoreInputError(`Expected an event id (UUID) but received ${quoteReceived(id, 40)}`);
    const [r] = await this.needDb('reading events', () =>
      this.client.query<RecognitionEventRow>('SELECT * FROM recognition_events WHERE id = $1', [id]),
    );
    return r ? recognitionEventOf(r) : null;
  }

  async recordCorrection(correction: NewMatchCorrection): Promise<MatchCorrection> {
    const row = correctionRow(correction);
    return this.needDb('recording a correction', () =>
      insertCorrection(this.client, row).catch((error: unknown) => {
        // 23503: the event named is not in the database (spooled, or never written).
        if ((error as { code?: unknown }).code === '23503')
          throw new NotFoundError(
            `Expected a recognition event in the database but there is no event ${row.eventId ?? ''}`,
          );
        // 23505: migration 003's one correction per event and user; a concurrent mark of the same event won.
        if ((error as { code?: unknown }).code === '23505' && row.eventId !== null)
          throw new ConflictError(alreadyMarkedMessage(row.eventId, row.userId));
        if (isRowError(error))
          throw new StoreInputError(`the database refused the correction: ${(error as Error).message}`);
        throw error;
      }),
    );
  }

  async listCorrections(userId: string, modelId?: string): Promise<MatchCorrection[]> {
    return this.needDb('reading corrections', () => userCorrections(this.client, userId, modelId));
  }

  async correctionRaises(modelId: string): Promise<CorrectionRaise[]> {
    return this.needDb('reading corrections', () => correctionRaises(this.client, modelId));
  }

  async listUserEmbeddings(userId: string, modelId: string): Promise<EmbeddingRecord[]> {
    validateId('user', userId);
    const rows = await this.needDb('reading embeddings', () =>
      this.client.query<EmbeddingSqlRow>(
        'SELECT id, user_id, image, model_id, vector, created_at FROM face_embeddings WHERE user_id = $1 AND model_id = $2 ORDER BY id',
        [userId, modelId],
      ),
    );
    return rows.map(toEmbedding);
  }

  // --- end of match corrections ---

  // --- Site calibration of the match threshold (issue 13): the SQL is in threshold-calibrations.ts ---
  async recordThresholdCalibration(calibration: NewThresholdCalibration): Promise<ThresholdCalibration> {
    const insert = calibrationInsert(calibration);
    return this.needDb('recording a threshold calibration', () => insert(this.client));
  }

  async latestThresholdCalibration(modelId: string): Promise<ThresholdCalibration | null> {
    return this.needDb('reading the threshold calibration', () => latestCalibration(this.client, modelId));
  }

  async calibrationStrangers(modelId: string): Promise<{ vector: Float32Array; userId: string | null }[]> {
    const rows = await this.needDb('reading unknown faces', () => calibrationStrangers(this.client, modelId));
    return rows.map((r) => ({ vector: vectorOf(r.vector), userId: r.userId }));
  }
  // --- end of site calibration ---

  // --- The change feed (migration 007) ---

  async readChanges(afterSeq: bigint, limit: number): Promise<Change[]> {
    const after = requireSeq('afterSeq', afterSeq);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHANGES_READ) {
      throw new StoreInputError(`Expected limit in 1..${MAX_CHANGES_READ} but received ${quoteReceived(limit, 20)}`);
    }
    const rows = await this.needDb('reading changes', () =>
      this.client.query<ChangeSqlRow>(
        `SELECT seq, at, appliance_id, kind, user_id, embedding_ids, model_id FROM changes
         WHERE seq > $1 ORDER BY seq LIMIT ${limit}`,
        [after.toString()],
      ),
    );
    return rows.map(toChange);
  }

  async latestChangeSeq(): Promise<bigint> {
    const [row] = await this.needDb('reading changes', () =>
      this.client.query<{ seq: string | number | bigint }>('SELECT seq FROM change_seq WHERE id = 1'),
    );
    return row ? BigInt(row.seq) : 0n;
  }

  onChangeNotified(listener: (seq: bigint | null) => void): void {
    this.changeListeners.push(listener);
    void this.listenForChanges();
  }

  async embeddingsByIds(ids: bigint[]): Promise<EmbeddingRecord[]> {
    ids.forEach((id, i) => requireSeq(`ids[${i}]`, id));
    if (ids.length === 0) return [];
    const rows = await this.needDb('reading embeddings', () =>
      this.client.query<EmbeddingSqlRow>(
        `SELECT id, user_id, image, model_id, vector, created_at FROM face_embeddings
         WHERE id = ANY($1::bigint[]) ORDER BY id`,
        [ids.map((id) => id.toString())],
      ),
    );
    return rows.map(toEmbedding);
  }

  // The LISTEN for changes, on a connection of its own: opened when the first listener arrives and
  // each time the database is back; a connection lost on its own is retried shortly (and a lost
  // connection is how an outage is often noticed first). Listeners hear null once it is
  // re-established: changes committed while it was down were not announced.
  private async listenForChanges(): Promise<void> {
    if (this.closed || this.stopListening || this.listenAttempt || this.changeListeners.length === 0) return;
    if (!this.availability.available) return; // onAvailable calls again
    this.listenAttempt = (async () => {
      try {
        const stop = await this.client.listen(
          CHANGE_CHANNEL,
          (payload) => this.announceChange(/^\d+$/.test(payload) ? BigInt(payload) : null),
          (error) => {
            this.stopListening = null;
            if (this.closed) return;
            this.logger.warn({ err: error }, 'database: the LISTEN for changes was lost; listening again');
            if (isConnectionError(error)) this.availability.wentDown(error);
            this.relisten();
          },
        );
        if (this.closed) {
          await stop();
          return;
        }
        this.stopListening = stop;
        this.announceChange(null);
      } catch (error) {
        if (isConnectionError(error)) this.availability.wentDown(error);
        else this.logger.warn({ err: error }, 'database: LISTEN for changes failed; retrying');
        this.relisten();
      } finally {
        this.listenAttempt = null;
      }
    })();
    await this.listenAttempt;
  }

  private relisten(): void {
    if (this.closed || this.relistenTimer) return;
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null;
      void this.listenForChanges();
    }, RELISTEN_MS);
    this.relistenTimer.unref();
  }

  private announceChange(seq: bigint | null): void {
    for (const listener of this.changeListeners) {
      try {
        listener(seq);
      } catch (error) {
        this.logger.error({ err: error }, 'change feed: a change listener threw');
      }
    }
  }

  // --- end of the change feed ---

  async replaySpool(): Promise<number> {
    if (this.spool.size() === 0) return 0;
    const n = await this.spool.replay(async (batch) => {
      try {
        await this.insertSpooled(batch);
      } catch (error) {
        if (isConnectionError(error)) throw error; // still down: the batch stays spooled
        // The database refuses something in the batch: find it row by row, keep the rest flowing.
        for (const event of batch) {
          try {
            await this.insertSpooled([event]);
          } catch (rowError) {
            if (isConnectionError(rowError)) throw rowError;
            await this.spool.deadLetter([event], rowError instanceof Error ? rowError.message : String(rowError));
          }
        }
      }
    });
    if (n > 0) this.logger.info({ events: n }, 'database: replayed spooled events');
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    await this.listenAttempt;
    await this.stopListening?.();
    this.stopListening = null;
    this.availability.close();
    await this.spool.close();
    await this.client.close();
  }

  private async insertSpooled(batch: SpooledEvent[]): Promise<void> {
    await insertRecognitions(
      this.client,
      batch.filter((e) => e.kind === 'recognition').map((e) => e.event as unknown as RecognitionRow),
    );
    await insertCameraEvents(
      this.client,
      batch.filter((e) => e.kind === 'camera').map((e) => e.event as unknown as CameraRow),
    );
  }

  // Events never fail for an outage or an overloaded server (too many connections, a failover
  // in progress, a timeout): they go to the spool and are replayed. Only a row the database
  // calls wrong (SQLSTATE 22, 23) is the caller's error.
  private async writeEvents(insert: () => Promise<void>, spooled: SpooledEvent[]): Promise<'database' | 'spool'> {
    if (this.availability.available) {
      try {
        await insert();
        return 'database';
      } catch (error) {
        if (isRowError(error)) throw new StoreInputError(`the database refused the event: ${(error as Error).message}`);
        if (isConnectionError(error)) this.availability.wentDown(error);
        else this.logger.warn({ err: error }, 'database: event insert failed; spooled for replay');
        this.availability.scheduleProbe();
      }
    }
    await this.spool.append(spooled);
    return 'spool';
  }

  // The availability's probe step: is the server there and writable? If so, migrations (once).
  private async ready(): Promise<void> {
    // SELECT 1 alone would pass on a read-only server and a hot standby: the store would flip
    // writable, fail the next write with 25006, and go down again on every probe.
    const [row] = await this.client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
    if (row?.transaction_read_only === 'on') {
      throw Object.assign(
        new Error('the server refuses writes (transaction_read_only is on: a read-only server or a hot standby)'),
        {
          code: '25006',
        },
      );
    }
    if (!this.migrated) {
      if (this.schema) await this.client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      const applied = await migrate(this.client);
      if (applied.length) this.logger.info({ applied }, 'database: migrations applied');
      this.migrated = true;
    }
  }

  private async linkRole(tx: SqlRunner, userId: string, role: string): Promise<void> {
    await tx.query('INSERT INTO roles (role_name) VALUES ($1) ON CONFLICT (role_name) DO NOTHING', [role]);
    await tx.query(
      'INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE role_name = $2 ON CONFLICT DO NOTHING',
      [userId, role],
    );
  }

  private async insertEmbeddings(
    tx: SqlRunner,
    userId: string,
    embeddings: NewEmbedding[],
  ): Promise<EmbeddingRecord[]> {
    const records: EmbeddingRecord[] = [];
    for (const e of embeddings) {
      const [row] = await tx.query<EmbeddingSqlRow>(
        `INSERT INTO face_embeddings (user_id, image, model_id, dim, vector) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, user_id, image, model_id, vector, created_at`,
        [userId, e.image, e.modelId, e.vector.length, vectorBytes(e.vector)],
      );
      records.push(toEmbedding(row as EmbeddingSqlRow));
    }
    return records;
  }
}

/** A recognition_events row as the database returns it. */
interface RecognitionEventRow {
  id: string;
  appliance_id: string | null;
  timestamp: Date;
  camera_id: string;
  matched_user_id: string | null;
  confidence: number;
  is_unknown: boolean;
  track_id: string | null;
  model_id: string | null;
  threshold: number | null;
  access_verdict: AccessVerdictKind | null;
  access_reason: string | null;
}

function recognitionEventOf(r: RecognitionEventRow): StoredRecognitionEvent {
  return {
    id: r.id,
    applianceId: r.appliance_id,
    timestamp: r.timestamp,
    cameraId: r.camera_id,
    matchedUserId: r.matched_user_id,
    confidence: r.confidence,
    isUnknown: r.is_unknown,
    trackId: r.track_id,
    modelId: r.model_id,
    threshold: r.threshold,
    access:
      r.access_verdict === null || r.access_reason === null
        ? null
        : { verdict: r.access_verdict, reason: r.access_reason },
  };
}
