// Site calibrations of the match threshold (migration 004): what `facegate calibrate --apply`
// records and what the appliance reads back as its match threshold. The rows are append-only (the
// database's trigger); this file checks a row before it is written, so a caller's mistake is a
// StoreInputError that says what was expected, not a constraint violation.
import { StoreInputError } from '../errors.js';
import { quoteReceived, requireText } from '../checks.js';
import type { SqlRunner } from './sql-client.js';
import type { NewThresholdCalibration, ThresholdCalibration } from './db-store.js';

interface CalibrationRow {
  id: string;
  created_at: Date;
  model_id: string;
  match_threshold: number;
  gallery_size: number;
  target: number;
  impostor_gallery: number;
  impostor_unknown: number;
  impostor_labelled: number;
  genuine_scores: number;
  tail_threshold: number;
  tail_exceedances: number;
  tail_shape: number;
  tail_scale: number;
  expected_genuine_accept: number | null;
  details: Record<string, unknown>;
}

function toCalibration(r: CalibrationRow): ThresholdCalibration {
  return {
    id: BigInt(r.id),
    createdAt: r.created_at,
    modelId: r.model_id,
    matchThreshold: r.match_threshold,
    gallerySize: r.gallery_size,
    target: r.target,
    impostorScores: { gallery: r.impostor_gallery, unknown: r.impostor_unknown, labelled: r.impostor_labelled },
    genuineScores: r.genuine_scores,
    tail: { threshold: r.tail_threshold, exceedances: r.tail_exceedances, shape: r.tail_shape, scale: r.tail_scale },
    expectedGenuineAccept: r.expected_genuine_accept,
    details: r.details,
  };
}

function requireNumber(name: string, value: unknown, ok: (v: number) => boolean, expected: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new StoreInputError(`Expected ${name} to be ${expected} but received ${quoteReceived(value)}`);
  }
  return value;
}

const count = (name: string, value: unknown, min = 0) =>
  requireNumber(
    name,
    value,
    (v) => Number.isSafeInteger(v) && v >= min && v <= 2 ** 31 - 1,
    `a whole number from ${min} to 2147483647`,
  );

/** Checks every field before the transaction; returns the row's parameters in column order. */
function checkCalibration(c: NewThresholdCalibration): unknown[] {
  const details = c.details ?? {};
  if (
    typeof details !== 'object' ||
    details === null ||
    Array.isArray(details) ||
    JSON.stringify(details).includes('\\u0000')
  ) {
    throw new StoreInputError('Expected details to be a plain object without NUL characters');
  }
  return [
    requireText('modelId', c.modelId, false),
    requireNumber('matchThreshold', c.matchThreshold, (v) => v > 0 && v <= 1, 'a number above 0 and at most 1'),
    count('gallerySize', c.gallerySize, 1),
    requireNumber('target', c.target, (v) => v > 0 && v < 1, 'a number between 0 and 1 (exclusive)'),
    count('impostorScores.gallery', c.impostorScores?.gallery),
    count('impostorScores.unknown', c.impostorScores?.unknown),
    count('impostorScores.labelled', c.impostorScores?.labelled),
    count('genuineScores', c.genuineScores),
    requireNumber('tail.threshold', c.tail?.threshold, () => true, 'a finite number'),
    count('tail.exceedances', c.tail?.exceedances, 1),
    requireNumber('tail.shape', c.tail?.shape, () => true, 'a finite number'),
    requireNumber('tail.scale', c.tail?.scale, (v) => v > 0, 'a number above 0'),
    c.expectedGenuineAccept === null
      ? null
      : requireNumber(
          'expectedGenuineAccept',
          c.expectedGenuineAccept,
          (v) => v >= 0 && v <= 1,
          'null or a share from 0 to 1',
        ),
    JSON.stringify(details),
  ];
}

/** Checked now, written by insertCalibration inside the store's database gate. */
export function calibrationInsert(c: NewThresholdCalibration): (db: SqlRunner) => Promise<ThresholdCalibration> {
  const params = checkCalibration(c);
  return async (db) => {
    const [row] = await db.query<CalibrationRow>(
      `INSERT INTO threshold_calibrations (model_id, match_threshold, gallery_size, target, impostor_gallery, impostor_unknown,
         impostor_labelled, genuine_scores, tail_threshold, tail_exceedances, tail_shape, tail_scale, expected_genuine_accept, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
      params,
    );
    return toCalibration(row as CalibrationRow);
  };
}

/** The newest calibration of one model, or null when the site never calibrated it. */
export async function latestCalibration(db: SqlRunner, modelId: string): Promise<ThresholdCalibration | null> {
  requireText('modelId', modelId, false);
  const [row] = await db.query<CalibrationRow>(
    'SELECT * FROM threshold_calibrations WHERE model_id = $1 ORDER BY id DESC LIMIT 1',
    [modelId],
  );
  return row ? toCalibration(row) : null;
}

/** Every kept unknown face of a model, with the user its group was enrolled as or assigned to (null while open). */
export async function calibrationStrangers(
  db: SqlRunner,
  modelId: string,
): Promise<{ vector: Uint8Array; userId: string | null }[]> {
  requireText('modelId', modelId, false);
  return db.query<{ vector: Uint8Array; userId: string | null }>(
    `SELECT f.vector, g.user_id AS "userId" FROM unknown_faces f JOIN unknown_groups g ON g.id = f.group_id
     WHERE f.model_id = $1 ORDER BY f.id`,
    [modelId],
  );
}
