// "Not this person" (issue 13): an operator marks a decision wrong, by its recognition event or
// with a photo of the face, and the face is recorded as a match correction for the user it was
// taken for (DbStore's MatchCorrection). That user's own threshold rises above the face's
// score (user-thresholds.ts), so the same face is not named as them again. The CLI and the API
// both come here; the answer carries the user's new threshold. A mark that would lock the user out
// (their own face is what it describes: user-thresholds.ts locksOut) is refused unless forced.
import { alreadyMarkedMessage, isUuid, type Storage } from '../../storage/index.js';
import type { MatchCorrection } from '../../storage/db/db-store.js';
import { isPrintableLine, isPrintableText, quoteReceived } from '../../storage/checks.js';
import { ConflictError, NotFoundError, StoreInputError } from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import { photoSubject } from '../vision/main-face.js';
import { nearestOthers, type NearestPerson, ownPhotoScore } from './lookalike.js';
import { bestCosine } from './similarity.js';
import type { UserDirectory } from './user-directory.js';
import { CORRECTION_STEP, locksOut, raisedThreshold, userThreshold } from './user-thresholds.js';

/** The request is well formed but cannot be a correction (an unknown decision, a photo without one usable face): the API answers 422. */
export class CorrectionRefusedError extends Error {
  override name = 'CorrectionRefusedError';
}

/**
 * The longest actor name a person may type (the API's field and the CLI's --actor): the stored
 * actor is "api:" or "cli:" and the name, within the database's 200 characters, with room to spare.
 */
export const MAX_ACTOR_CHARS = 100;

/** The longest photo file name kept in a correction's details (row-checks' text limit). */
export const MAX_PHOTO_NAME_CHARS = 200;

export interface CorrectionDeps {
  storage: Storage;
  /** The site's match threshold in use: a user's own threshold is never below it. */
  siteMatch: number;
  /** The running appliance's directory: the correction counts at once (null for a CLI run). */
  users?: UserDirectory | null;
}

/** A correction as shown (its vector is not: only whether one was kept). */
export function correctionJson(c: MatchCorrection) {
  return {
    id: c.id,
    timestamp: c.timestamp,
    actor: c.actor,
    userId: c.userId,
    source: c.source,
    eventId: c.eventId,
    score: Number(c.score.toFixed(4)),
    modelId: c.modelId,
    withVector: c.vector !== null,
    details: c.details,
  };
}

export interface UserThresholdReport {
  /** The user's own match threshold for the model in use. */
  match: number;
  /** The site's, for comparison. */
  site: number;
  /** Whether corrections raised it above the site's. */
  raised: boolean;
  /** The corrections that count for this user and model, oldest first. */
  corrections: ReturnType<typeof correctionJson>[];
}

/** A user's threshold and the corrections behind it (for the model in use). */
export async function userThresholdReport(
  storage: Storage,
  userId: string,
  siteMatch: number,
): Promise<UserThresholdReport> {
  const corrections = await storage.db.listCorrections(userId, storage.embeddings.modelId);
  const top = Math.max(...corrections.map((c) => c.score));
  const own = userThreshold(
    siteMatch,
    corrections.length ? { raisedTo: raisedThreshold(top), corrections: corrections.length } : undefined,
  );
  return { match: own.threshold, site: siteMatch, raised: own.raised, corrections: corrections.map(correctionJson) };
}

/** The nearest other enrolled person, live from the index: the best score of this user's gallery against theirs. */
export async function nearestOtherPerson(storage: Storage, userId: string): Promise<NearestPerson | null> {
  const gallery = await storage.db.listUserEmbeddings(userId, storage.embeddings.modelId);
  const [nearest] = await nearestOthers(
    storage.embeddings,
    gallery.map((e) => e.vector),
    userId,
  );
  return nearest ? { userId: nearest.userId, score: nearest.score } : null;
}

export interface CorrectionResult {
  correction: ReturnType<typeof correctionJson>;
  userId: string;
  threshold: UserThresholdReport;
}

function checkNote(note: unknown): string | undefined {
  if (note === undefined) return undefined;
  // The database checks the actor; the note goes into details, checked here the same way.
  if (!isPrintableLine(note, 200)) {
    throw new StoreInputError(
      `Expected a note of 1-200 printable characters (no control or format characters) but received ${quoteReceived(note, 40)}`,
    );
  }
  return note.trim();
}

function checkForce(force: unknown): boolean {
  if (force === undefined || force === false) return false;
  if (force !== true)
    throw new StoreInputError(`Expected force to be true or false but received ${quoteReceived(force, 40)}`);
  return true;
}

const fmt = (v: number) => v.toFixed(3);

/**
 * Why recording a face at `score` against the user would lock them out (locksOut), in words: what
 * it would do, and why the face is probably the user's own; null when it would not. Only the
 * correction's own raise is judged: a lower mark changes nothing a forced one did not already.
 */
async function lockoutReason(
  deps: CorrectionDeps,
  userId: string,
  score: number,
  modelId: string,
): Promise<string | null> {
  const raise = raisedThreshold(score);
  const gallery = await deps.storage.db.listUserEmbeddings(userId, modelId);
  const own = ownPhotoScore(gallery.map((e) => e.vector));
  if (!locksOut(raise, deps.siteMatch, own)) return null;
  const what =
    raise > 1
      ? `marking this face as not ${userId} would raise ${userId}'s match threshold to ${fmt(raise)}, above 1: no face could ever be recognised as ${userId} ` +
        `(a score is at most 1). The face scores ${fmt(score)} against ${userId}'s enrolled photos`
      : `marking this face as not ${userId} would raise ${userId}'s match threshold to ${fmt(raise)}, above ${fmt(own ?? 0)}, how well ${userId}'s own enrolled ` +
        `photos score each other (median of each photo's best score against the others): ${userId} would no longer be recognised. The face scores ` +
        `${fmt(score)} against ${userId}'s enrolled photos, ` +
        (score >= (own ?? 0)
          ? 'as high as they score each other'
          : `within ${CORRECTION_STEP} of that (how far one face's score moves between shots)`);
  return (
    `${what}, so it is probably ${userId}; nothing was recorded. If it is not ${userId}, record it anyway with force ` +
    `(the API's "force": true, the CLI's --force); a wrong correction is undone only by deleting and re-enrolling ${userId}`
  );
}

/** Refuses a lockout unless forced; a forced one keeps what it overrode in the correction's details. */
async function judgeLockout(
  deps: CorrectionDeps,
  userId: string,
  score: number,
  modelId: string,
  force: boolean,
): Promise<Record<string, unknown>> {
  const reason = await lockoutReason(deps, userId, score, modelId);
  if (reason === null) return {};
  if (!force) throw new CorrectionRefusedError(reason);
  return { force: true, forcedPast: reason };
}

async function finish(deps: CorrectionDeps, correction: MatchCorrection): Promise<CorrectionResult> {
  deps.users?.noteCorrection(correction.userId, correction.score, correction.modelId);
  return {
    correction: correctionJson(correction),
    userId: correction.userId,
    threshold: await userThresholdReport(deps.storage, correction.userId, deps.siteMatch),
  };
}

/**
 * A recognition event named the wrong person. The correction takes the event's user and its
 * confidence (a track's event keeps the mean of its winning frames: CORRECTION_STEP covers a frame
 * above the mean). The event's face vector is not kept by the pipeline, so none is recorded.
 */
export async function markEventWrong(
  deps: CorrectionDeps,
  request: { eventId: unknown; actor: string; note?: unknown; force?: unknown },
): Promise<CorrectionResult> {
  // UUIDs are case-insensitive (RFC 9562); the database and the appliance write them in lower case.
  const eventId = typeof request.eventId === 'string' ? request.eventId.toLowerCase() : request.eventId;
  if (!isUuid(eventId))
    throw new StoreInputError(
      `Expected an event id (a UUID like 0190c3d2-7a1b-7c3d-8e4f-0123456789ab) but received ${quoteReceived(eventId, 40)}`,
    );
  const note = checkNote(request.note);
  const force = checkForce(request.force);
  const { db } = deps.storage;
  const event = await db.getRecognitionEvent(eventId);
  if (!event) throw new NotFoundError(`Expected a recognition event but there is no event ${eventId}`);
  if (event.isUnknown || event.matchedUserId === null) {
    throw new CorrectionRefusedError(
      `Expected a known decision (an event that named someone) but event ${eventId} was unknown: there is no match to mark wrong`,
    );
  }
  const userId = event.matchedUserId;
  const user = await db.getUser(userId);
  if (!user)
    throw new NotFoundError(`Expected the event's user to be enrolled but there is no user ${userId} any more`);
  if (event.timestamp < user.createdAt) {
    throw new CorrectionRefusedError(
      `Expected an event about ${userId} as enrolled now but event ${eventId} (${event.timestamp.toISOString()}) predates this enrolment (${user.createdAt.toISOString()}): it named an earlier user of that id`,
    );
  }
  const modelId = event.modelId ?? deps.storage.embeddings.modelId;
  // The common case, said before anything else; two marks at once are left to the database's
  // unique index (migration 003), which refuses the second with the same conflict.
  if ((await db.listCorrections(userId)).some((c) => c.eventId === eventId))
    throw new ConflictError(alreadyMarkedMessage(eventId, userId));
  const forced = await judgeLockout(deps, userId, event.confidence, modelId, force);
  const correction = await db.recordCorrection({
    actor: request.actor,
    userId,
    source: 'operator',
    eventId,
    score: event.confidence,
    modelId,
    details: {
      cameraId: event.cameraId,
      trackId: event.trackId,
      eventThreshold: event.threshold,
      ...(note ? { note } : {}),
      ...forced,
    },
  });
  return finish(deps, correction);
}

function checkPhotoName(name: unknown): string | undefined {
  if (name === undefined) return undefined;
  // Kept in details and shown by users show: printable, like everything a person reads back.
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_PHOTO_NAME_CHARS || !isPrintableText(name)) {
    throw new StoreInputError(
      `Expected the image's file name to be printable text of 1-${MAX_PHOTO_NAME_CHARS} characters (no control or format characters) but received ${quoteReceived(name, 40)}`,
    );
  }
  return name;
}

/**
 * A photo of a face that is not this user (and was, or could be, taken for them): its subject is
 * found as enrolment finds it (a still photo, the main face: vision/main-face.ts), embedded,
 * scored against the user's gallery, and recorded with its vector.
 */
export async function markPhotoNotUser(
  deps: CorrectionDeps & { analyzer: FaceAnalyzer },
  request: { userId: string; photo: Uint8Array; name?: string; actor: string; note?: unknown; force?: unknown },
): Promise<CorrectionResult> {
  const userId = validateId('user', request.userId);
  const note = checkNote(request.note);
  const photo = checkPhotoName(request.name);
  const force = checkForce(request.force);
  const { db, embeddings } = deps.storage;
  if (!(await db.getUser(userId))) throw new NotFoundError(`Expected an existing user but there is no user ${userId}`);
  const gallery = await db.listUserEmbeddings(userId, embeddings.modelId);
  if (gallery.length === 0)
    throw new CorrectionRefusedError(
      `Expected ${userId} to have enrolled faces for the model in use (${embeddings.modelId}) but there are none`,
    );
  // The photo's subject, as enrolment takes it.
  const choice = await photoSubject(deps.analyzer, request.photo);
  if (choice.kind !== 'main')
    throw new CorrectionRefusedError(
      `Expected a photo of one person's face (as enrolment takes it) but ${choice.reason}`,
    );
  const { embedding } = choice.main;
  if (!choice.main.quality.accepted || !embedding) {
    throw new CorrectionRefusedError(
      `Expected a photo of one person's face (as enrolment takes it) but the face was refused by the quality gate (${choice.main.quality.reasons.join(', ')})`,
    );
  }
  if (embedding.modelId !== embeddings.modelId) {
    throw new CorrectionRefusedError(
      `Expected a face embedded by the model in use (${embeddings.modelId}) but it was embedded by ${embedding.modelId}`,
    );
  }
  const score = bestCosine(
    embedding.vector,
    gallery.map((e) => e.vector),
  );
  const forced = await judgeLockout(deps, userId, score, embedding.modelId, force);
  const correction = await db.recordCorrection({
    actor: request.actor,
    userId,
    source: 'operator',
    score,
    modelId: embedding.modelId,
    vector: embedding.vector,
    details: { ...(photo ? { photo } : {}), ...(note ? { note } : {}), ...forced },
  });
  return finish(deps, correction);
}
