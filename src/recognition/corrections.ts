// "Not this person" (issue 13): an operator marks a decision wrong, by its recognition event or
// with a photo of the face, and the face is recorded as a match correction for the user it was
// taken for (storage/db/match-corrections.ts). That user's own threshold rises above the face's
// score (user-thresholds.ts), so the same face is not named as them again. The CLI and the API
// both come here; the answer carries the user's new threshold.
import type { Storage } from '../../storage/index.js';
import type { MatchCorrection } from '../../storage/db/match-corrections.js';
import { isPrintableText, quoteReceived } from '../../storage/db/row-checks.js';
import { isUuid } from '../../storage/db/uuid7.js';
import { ConflictError, NotFoundError, StoreInputError } from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import { withDecodedImage } from '../vision/image-input.js';
import { nearestOthers, type NearestPerson } from './lookalike.js';
import { cosine } from './similarity.js';
import type { UserDirectory } from './user-directory.js';
import { raisedThreshold, userThreshold } from './user-thresholds.js';

/** The request is well formed but cannot be a correction (an unknown decision, a photo without one usable face): the API answers 422. */
export class CorrectionRefusedError extends Error {
  override name = 'CorrectionRefusedError';
}

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
export async function userThresholdReport(storage: Storage, userId: string, siteMatch: number): Promise<UserThresholdReport> {
  const corrections = await storage.db.listCorrections(userId, storage.embeddings.modelId);
  const top = Math.max(...corrections.map((c) => c.score));
  const own = userThreshold(siteMatch, corrections.length ? { raisedTo: raisedThreshold(top), corrections: corrections.length } : undefined);
  return { match: own.threshold, site: siteMatch, raised: own.raised, corrections: corrections.map(correctionJson) };
}

/** The nearest other enrolled person, live from the index: the best score of this user's gallery against theirs. */
export async function nearestOtherPerson(storage: Storage, userId: string): Promise<NearestPerson | null> {
  const gallery = await storage.db.listUserEmbeddings(userId, storage.embeddings.modelId);
  const [nearest] = await nearestOthers(storage.embeddings, gallery.map((e) => e.vector), userId);
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
  if (typeof note !== 'string' || note.trim().length === 0 || note.length > 200 || !isPrintableText(note)) {
    throw new StoreInputError(`Expected a note of 1-200 printable characters (no control or format characters) but received ${quoteReceived(note, 40)}`);
  }
  return note.trim();
}

async function finish(deps: CorrectionDeps, correction: MatchCorrection): Promise<CorrectionResult> {
  deps.users?.noteCorrection(correction.userId, correction.score, correction.modelId);
  return { correction: correctionJson(correction), userId: correction.userId, threshold: await userThresholdReport(deps.storage, correction.userId, deps.siteMatch) };
}

/**
 * A recognition event named the wrong person. The correction takes the event's user and its
 * confidence (a track's event keeps the mean of its winning frames: CORRECTION_STEP covers a frame
 * above the mean). The event's face vector is not kept by the pipeline, so none is recorded.
 */
export async function markEventWrong(deps: CorrectionDeps, request: { eventId: unknown; actor: string; note?: unknown }): Promise<CorrectionResult> {
  const { eventId } = request;
  if (!isUuid(eventId)) throw new StoreInputError(`Expected an event id (a UUID like 0190c3d2-7a1b-7c3d-8e4f-0123456789ab) but received ${quoteReceived(eventId, 40)}`);
  const note = checkNote(request.note);
  const { db } = deps.storage;
  const event = await db.getRecognitionEvent(eventId);
  if (!event) throw new NotFoundError(`Expected a recognition event but there is no event ${eventId}`);
  if (event.isUnknown || event.matchedUserId === null) {
    throw new CorrectionRefusedError(`Expected a known decision (an event that named someone) but event ${eventId} was unknown: there is no match to mark wrong`);
  }
  const userId = event.matchedUserId;
  const user = await db.getUser(userId);
  if (!user) throw new NotFoundError(`Expected the event's user to be enrolled but there is no user ${userId} any more`);
  if (event.timestamp < user.createdAt) {
    throw new CorrectionRefusedError(`Expected an event about ${userId} as enrolled now but event ${eventId} (${event.timestamp.toISOString()}) predates this enrolment (${user.createdAt.toISOString()}): it named an earlier user of that id`);
  }
  const modelId = event.modelId ?? deps.storage.embeddings.modelId;
  if ((await db.listCorrections(userId)).some((c) => c.eventId === eventId)) {
    throw new ConflictError(`Expected an event not marked yet but event ${eventId} was already marked wrong for ${userId}`);
  }
  const correction = await db.recordCorrection({
    actor: request.actor,
    userId,
    source: 'operator',
    eventId,
    score: event.confidence,
    modelId,
    details: { cameraId: event.cameraId, trackId: event.trackId, eventThreshold: event.threshold, ...(note ? { note } : {}) },
  });
  return finish(deps, correction);
}

/**
 * A photo of a face that is not this user (and was, or could be, taken for them): its face is
 * embedded, scored against the user's gallery, and recorded with its vector.
 */
export async function markPhotoNotUser(
  deps: CorrectionDeps & { analyzer: FaceAnalyzer },
  request: { userId: string; photo: Uint8Array; name?: string; actor: string; note?: unknown },
): Promise<CorrectionResult> {
  const userId = validateId('user', request.userId);
  const note = checkNote(request.note);
  const { db, embeddings } = deps.storage;
  if (!(await db.getUser(userId))) throw new NotFoundError(`Expected an existing user but there is no user ${userId}`);
  const gallery = await db.listUserEmbeddings(userId, embeddings.modelId);
  if (gallery.length === 0) throw new CorrectionRefusedError(`Expected ${userId} to have enrolled faces for the model in use (${embeddings.modelId}) but there are none`);
  // The decoded pixels count against the shared decode budget until the faces are found.
  const faces = await withDecodedImage(request.photo, (image) => deps.analyzer.analyze(image));
  const usable = faces.filter((f) => f.embedding);
  if (usable.length !== 1) {
    const refused = faces.filter((f) => !f.embedding).map((f) => f.quality.reasons.join(', '));
    throw new CorrectionRefusedError(
      `Expected a photo with exactly one usable face but found ${faces.length} face(s), ${usable.length} usable` +
        (refused.length ? ` (refused by the quality gate: ${refused.join('; ')})` : ''),
    );
  }
  const embedding = (usable[0] as (typeof usable)[0]).embedding as NonNullable<(typeof usable)[0]['embedding']>;
  if (embedding.modelId !== embeddings.modelId) {
    throw new CorrectionRefusedError(`Expected a face embedded by the model in use (${embeddings.modelId}) but it was embedded by ${embedding.modelId}`);
  }
  const score = Math.max(...gallery.map((e) => cosine(e.vector, embedding.vector)));
  const correction = await db.recordCorrection({
    actor: request.actor,
    userId,
    source: 'operator',
    score,
    modelId: embedding.modelId,
    vector: embedding.vector,
    details: { ...(request.name ? { photo: request.name } : {}), ...(note ? { note } : {}) },
  });
  return finish(deps, correction);
}
