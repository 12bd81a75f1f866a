// Match corrections (migration 003): the faces that must not be taken for a user, recorded when an
// operator marks a decision wrong or an enrolment finds two people close. Rows are checked here
// before they reach the database (like every other row, row-checks.ts) and written by the
// SqlDbStore, on their own or inside createUser's transaction (a lookalike enrolment's rows commit
// with the user, so the new person never exists without the threshold that separates them).
import { StoreInputError } from '../errors.js';
import { validateId } from '../ids.js';
import { isFiniteVector, quoteReceived, requireFinite, requirePrintableText, requireText } from '../checks.js';
import { vectorBytes, vectorOf } from './row-checks.js';
import type { SqlRunner } from './sql-client.js';
import { isUuid, uuidv7 } from './uuid7.js';
import {
  CORRECTION_SOURCES,
  type CorrectionRaise,
  type CorrectionSource,
  type MatchCorrection,
  type NewMatchCorrection,
} from './db-store.js';

interface CorrectionRow {
  id: string;
  actor: string;
  userId: string;
  source: CorrectionSource;
  eventId: string | null;
  score: number;
  modelId: string;
  vector: Buffer | null;
  dim: number | null;
  details: string;
}

/** The refusal of a second mark of one event (the check before the insert, and migration 003's unique index when two race). */
export function alreadyMarkedMessage(eventId: string, userId: string): string {
  return `Expected an event not marked yet but event ${eventId} was already marked wrong for ${userId}`;
}

/** Refuses what the database would refuse, with what was expected; returns the row to insert. */
export function correctionRow(c: NewMatchCorrection, i?: number): CorrectionRow {
  const at = i === undefined ? '' : `corrections[${i}].`;
  if (c === null || typeof c !== 'object')
    throw new StoreInputError(`Expected a correction object but received ${quoteReceived(c, 40)}`);
  const actor = requirePrintableText(
    `${at}actor`,
    typeof c.actor === 'string' ? c.actor.trim() : c.actor,
    false,
  ) as string;
  if (!(CORRECTION_SOURCES as readonly unknown[]).includes(c.source)) {
    throw new StoreInputError(
      `Expected ${at}source to be one of ${CORRECTION_SOURCES.join(', ')} but received ${quoteReceived(c.source, 40)}`,
    );
  }
  const eventId = c.eventId ?? null;
  if (eventId !== null && !isUuid(eventId))
    throw new StoreInputError(
      `Expected ${at}eventId to be an event id (UUID) but received ${quoteReceived(eventId, 40)}`,
    );
  const score = requireFinite(`${at}score`, c.score, false) as number;
  // A cosine of normalised vectors; anything else is not a score this store can reason about.
  if (score < -1.001 || score > 1.001)
    throw new StoreInputError(`Expected ${at}score to be a cosine in [-1, 1] but received ${score}`);
  const vector = c.vector ?? null;
  if (vector !== null && !isFiniteVector(vector)) {
    throw new StoreInputError(`Expected ${at}vector to be a non-empty Float32Array of finite numbers or null`);
  }
  const details = c.details ?? {};
  if (typeof details !== 'object' || Array.isArray(details) || JSON.stringify(details).includes('\\u0000')) {
    throw new StoreInputError(`Expected ${at}details to be a plain object without NUL characters`);
  }
  return {
    id: uuidv7(),
    actor,
    userId: validateId('user', c.userId),
    source: c.source,
    eventId,
    score,
    modelId: requireText(`${at}modelId`, c.modelId, false) as string,
    vector: vector === null ? null : vectorBytes(vector),
    dim: vector === null ? null : vector.length,
    details: JSON.stringify(details),
  };
}

interface CorrectionSqlRow {
  id: string;
  timestamp: Date;
  actor: string;
  user_id: string;
  source: CorrectionSource;
  event_id: string | null;
  score: number;
  model_id: string;
  vector: Uint8Array | null;
  details: Record<string, unknown>;
}

const CORRECTION_COLUMNS =
  'c.id, c."timestamp", c.actor, c.user_id, c.source, c.event_id, c.score, c.model_id, c.vector, c.details';

function toCorrection(r: CorrectionSqlRow): MatchCorrection {
  return {
    id: r.id,
    timestamp: r.timestamp,
    actor: r.actor,
    userId: r.user_id,
    source: r.source,
    eventId: r.event_id,
    score: r.score,
    modelId: r.model_id,
    vector: r.vector ? vectorOf(r.vector) : null,
    details: r.details,
  };
}

export async function insertCorrection(db: SqlRunner, row: CorrectionRow): Promise<MatchCorrection> {
  const [inserted] = await db.query<CorrectionSqlRow>(
    `INSERT INTO match_corrections AS c (id, actor, user_id, source, event_id, score, model_id, dim, vector, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
     RETURNING ${CORRECTION_COLUMNS}`,
    [row.id, row.actor, row.userId, row.source, row.eventId, row.score, row.modelId, row.dim, row.vector, row.details],
  );
  return toCorrection(inserted as CorrectionSqlRow);
}

// A correction counts for the user enrolled under its id when it was recorded: one recorded before
// the user's created_at belongs to an earlier, deleted user of the same id (both on the database's clock).
const CURRENT = `JOIN users u ON u.id = c.user_id AND c."timestamp" >= u.created_at`;

/** The corrections of the user enrolled now under this id (all models, or one), oldest first. */
export async function userCorrections(db: SqlRunner, userId: string, modelId?: string): Promise<MatchCorrection[]> {
  validateId('user', userId);
  const rows = await db.query<CorrectionSqlRow>(
    `SELECT ${CORRECTION_COLUMNS} FROM match_corrections c ${CURRENT}
     WHERE c.user_id = $1 ${modelId === undefined ? '' : 'AND c.model_id = $2'} ORDER BY c."timestamp", c.id`,
    modelId === undefined ? [userId] : [userId, requireText('modelId', modelId, false)],
  );
  return rows.map(toCorrection);
}

/** Every enrolled user's corrections for one model, folded to their highest score and count. */
export async function correctionRaises(db: SqlRunner, modelId: string): Promise<CorrectionRaise[]> {
  const rows = await db.query<{ user_id: string; max_score: number; n: number }>(
    `SELECT c.user_id, max(c.score) AS max_score, count(*)::int AS n FROM match_corrections c ${CURRENT}
     WHERE c.model_id = $1 GROUP BY c.user_id ORDER BY c.user_id`,
    [requireText('modelId', modelId, false)],
  );
  return rows.map((r) => ({ userId: r.user_id, maxScore: Number(r.max_score), count: r.n }));
}
