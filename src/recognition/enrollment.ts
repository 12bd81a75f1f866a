// Enrollment: a new user from photos (files, a folder's images, or frames), or from reviewed
// unknown-face crops (src/unknown-faces/review.ts). Every image must show one main face (faces much
// smaller or blurrier behind it are ignored: vision/main-face.ts) that passes the quality gate and
// matches no other enrolled user; at least three must, or nothing is kept. Then, in order: images
// (originals and aligned crops, metadata.json), the database (user and embeddings, one
// transaction), the index.
import type { Storage } from '../../storage/index.js';
import { ConflictError, NotFoundError, ReadOnlyError } from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import type { GroupResolution, ReviewAction } from '../../storage/index.js';
import type { StoredImage } from '../../storage/images/image-store.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import { encodePng, ImageDecodeError } from '../vision/image-input.js';
import { photoSubject } from '../vision/main-face.js';
import type { Embedding } from '../vision/types.js';
import { DEFAULT_DECISION_THRESHOLDS, type DecisionThresholds } from './decision.js';
import { cosine } from './similarity.js';
import { judgeLookalikes, type NearestPerson } from './lookalike.js';
import { withGalleryLock, withUserLock } from './user-lock.js';

/** The LLD: "New user: add >= 3 embeddings". */
export const MIN_ENROLLMENT_FACES = 3;
/**
 * The most embeddings one user may have (enrollment and auto-learning both respect it). It must
 * stay under identify.ts's SEARCH_K, or one user's own matches could hide the runner-up user.
 */
export const MAX_EMBEDDINGS_PER_USER = 20;

export interface EnrollmentImage {
  /** For the report: a file name or a frame label. */
  name: string;
  bytes: Uint8Array;
}

export interface NewPerson {
  userId: string;
  name: string;
  department?: string | null;
  roles?: string[];
}

export interface EnrollRequest extends NewPerson {
  images: EnrollmentImage[];
  cameraId?: string | null;
}

/** A face ready to be enrolled: found in a photo, or an unknown crop kept with its embedding. */
export interface EnrollmentFace {
  /** For the report: a file name, a frame label, a crop. */
  name: string;
  /** Kept as the user's original (the photo, or the crop itself). */
  original: Uint8Array;
  /** The aligned 112 x 112 crop (PNG). */
  alignedPng: Uint8Array;
  qualityScore: number;
  embedding: Embedding;
  cameraId: string | null;
}

export interface Skipped {
  file: string;
  reason: string;
}

export interface EnrollResult {
  userId: string;
  embeddings: number;
  skipped: Skipped[];
  /** Lookalike pressure (lookalike.ts): the nearest other enrolled person, by the best score of these photos against their gallery. */
  nearest: NearestPerson | null;
  /** Enrolled people close to this one: both thresholds were raised above the score (match corrections). */
  lookalikes: NearestPerson[];
  /** This user's own match threshold now (the site's unless a lookalike raised it). */
  threshold: number;
}

export class EnrollmentRefusedError extends Error {
  override name = 'EnrollmentRefusedError';
  constructor(
    message: string,
    readonly skipped: Skipped[],
  ) {
    super(message);
  }
}

export interface EnrollmentDeps {
  analyzer: FaceAnalyzer;
  storage: Storage;
  thresholds?: DecisionThresholds;
  /** Called after each photo is examined (the CLI's progress bar): photos done, of how many, the last one's name. */
  onPhoto?: (done: number, total: number, name: string) => void;
}

/** A photo in which faces behind its subject were set aside (chooseMainFace): the face used and how many were not. */
export interface IgnoredFacesNote {
  file: string;
  /** The box of the face enrolled, [x, y, width, height] in the photo's pixels. */
  used: [number, number, number, number];
  /** Faces much smaller or much blurrier than it. */
  ignored: number;
}

/** An enrollment from photos: its result, and the photos in which background faces were ignored (only when there were any). */
export type PhotoEnrollResult = EnrollResult & { ignoredFaces?: IgnoredFacesNote[] };

/** Why an image cannot be used, or its face (the photo's subject, chooseMainFace). */
async function examine(
  analyzer: FaceAnalyzer,
  image: EnrollmentImage,
  cameraId: string | null,
): Promise<{ face: EnrollmentFace; note: IgnoredFacesNote | null } | string> {
  let choice;
  try {
    choice = await photoSubject(analyzer, image.bytes);
  } catch (error) {
    if (error instanceof ImageDecodeError) return error.message;
    throw error;
  }
  if (choice.kind !== 'main') return choice.reason;
  const { main: face, ignored } = choice;
  const box = face.face.box.map((v) => Number(v.toFixed(1))) as IgnoredFacesNote['used'];
  const aside = ignored.length > 0 ? `; ${ignored.length} much smaller or blurrier face(s) ignored` : '';
  if (!face.quality.accepted || !face.embedding)
    return `face rejected by the quality gate (${face.quality.reasons.join(', ')})${aside ? ` (the largest, at ${box.join(',')}${aside})` : ''}`;
  return {
    face: {
      name: image.name,
      original: image.bytes,
      alignedPng: await encodePng(face.aligned),
      qualityScore: face.quality.score,
      embedding: face.embedding,
      cameraId,
    },
    note: ignored.length > 0 ? { file: image.name, used: box, ignored: ignored.length } : null,
  };
}

/**
 * The photos of one enrollment must show one person: faces are grouped by "matches at the match
 * threshold" (transitively), and only a group holding more than half of them is kept. Three photos
 * of Alice and three of Bob under one id would otherwise teach the index that Bob is Alice.
 */
function onePerson(
  usable: EnrollmentFace[],
  threshold: number,
): { kept: EnrollmentFace[]; outliers: EnrollmentFace[] } {
  const parent = usable.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i] as number)));
  for (let i = 0; i < usable.length; i++) {
    for (let j = i + 1; j < usable.length; j++) {
      if (
        cosine((usable[i] as EnrollmentFace).embedding.vector, (usable[j] as EnrollmentFace).embedding.vector) >=
        threshold
      )
        parent[root(i)] = root(j);
    }
  }
  const sizes = new Map<number, number>();
  usable.forEach((_, i) => sizes.set(root(i), (sizes.get(root(i)) ?? 0) + 1));
  const [largest, size] = [...sizes].sort((a, b) => b[1] - a[1])[0] ?? [-1, 0];
  if (size * 2 <= usable.length) return { kept: [], outliers: usable };
  return { kept: usable.filter((_, i) => root(i) === largest), outliers: usable.filter((_, i) => root(i) !== largest) };
}

export async function enroll(deps: EnrollmentDeps, request: EnrollRequest): Promise<PhotoEnrollResult> {
  const userId = validateId('user', request.userId);
  return withUserLock(userId, async () => {
    await refuseExisting(deps.storage, userId);
    const skipped: Skipped[] = [];
    const faces: EnrollmentFace[] = [];
    const notes: IgnoredFacesNote[] = [];
    for (const image of request.images) {
      const result = await examine(deps.analyzer, image, request.cameraId ?? null);
      if (typeof result === 'string') skipped.push({ file: image.name, reason: result });
      else {
        faces.push(result.face);
        if (result.note) notes.push(result.note);
      }
      deps.onPhoto?.(skipped.length + faces.length, request.images.length, image.name);
    }
    const { review: _none, ...result } = await keepFaces(deps, request, userId, faces, skipped);
    // Only when a photo had faces set aside, so that the usual answer keeps its shape.
    return notes.length > 0 ? { ...result, ignoredFaces: notes } : result;
  });
}

/**
 * Enrolls a new user from faces already found and embedded (reviewed unknown crops), under the
 * same rules. `review` closes their unknown-face group in the same transaction as the user's rows.
 */
export async function enrollFaces(
  deps: Omit<EnrollmentDeps, 'analyzer'>,
  person: NewPerson,
  faces: EnrollmentFace[],
  options: { skipped?: Skipped[]; review?: GroupResolution } = {},
): Promise<EnrollResult & { review: ReviewAction | null }> {
  const userId = validateId('user', person.userId);
  return withUserLock(userId, async () => {
    await refuseExisting(deps.storage, userId);
    return keepFaces(deps, person, userId, faces, [...(options.skipped ?? [])], options.review);
  });
}

async function refuseExisting(storage: Storage, userId: string): Promise<void> {
  const existing = (await storage.db.listUsers()).find((u) => u.id.toLowerCase() === userId.toLowerCase());
  if (existing) {
    const same =
      existing.id === userId
        ? ''
        : ` as ${existing.id} (ids differ only in case, and Windows folder names ignore case)`;
    throw new ConflictError(
      `Expected a new user id but ${userId} is already enrolled${same} (delete it first, or add photos to it)`,
    );
  }
}

/** Whether the image store already holds a folder for this id (any case): an earlier, deleted user's originals. */
async function hasImageFolder(storage: Storage, userId: string): Promise<boolean> {
  return (await storage.images.listUsers()).some((u) => u.toLowerCase() === userId.toLowerCase());
}

// The rules every enrollment passes, then the writes: under the user's lock, and the gallery's
// (user-lock.ts), so that no other enrollment inserts a face between this one's "matches no other
// user" and its insert. The faces were found and embedded before, outside it.
function keepFaces(...args: Parameters<typeof judgeAndKeep>): ReturnType<typeof judgeAndKeep> {
  return withGalleryLock(() => judgeAndKeep(...args));
}

async function judgeAndKeep(
  deps: Omit<EnrollmentDeps, 'analyzer'>,
  person: NewPerson,
  userId: string,
  candidates: EnrollmentFace[],
  skipped: Skipped[],
  review?: GroupResolution,
): Promise<EnrollResult & { review: ReviewAction | null }> {
  const { storage } = deps;
  const t = deps.thresholds ?? DEFAULT_DECISION_THRESHOLDS;
  const usable: EnrollmentFace[] = [];
  for (const face of candidates) {
    if (face.embedding.modelId !== storage.embeddings.modelId) {
      skipped.push({
        file: face.name,
        reason: `embedded by ${face.embedding.modelId}, not the model in use (${storage.embeddings.modelId})`,
      });
      continue;
    }
    // A face that already matches someone else would make that person and this one
    // indistinguishable: future false positives, refused now.
    const [best] = (await storage.embeddings.search(face.embedding.vector, 1)).filter((m) => m.userId !== userId);
    if (best && best.score >= t.match) {
      skipped.push({
        file: face.name,
        reason: `matches enrolled user ${best.userId} at ${best.score.toFixed(3)} (a future false positive)`,
      });
      continue;
    }
    usable.push(face);
  }
  const { kept, outliers } = onePerson(usable, t.match);
  for (const o of outliers) {
    skipped.push({ file: o.name, reason: 'does not match the other photos (an enrollment must show one person)' });
  }
  usable.splice(0, usable.length, ...kept);
  // The best faces, up to the per-user cap (the search must always see past one user's gallery).
  if (usable.length > MAX_EMBEDDINGS_PER_USER) {
    usable.sort((a, b) => b.qualityScore - a.qualityScore);
    for (const extra of usable.splice(MAX_EMBEDDINGS_PER_USER)) {
      skipped.push({
        file: extra.name,
        reason: `more than ${MAX_EMBEDDINGS_PER_USER} usable photos; the best ${MAX_EMBEDDINGS_PER_USER} were kept`,
      });
    }
  }
  if (usable.length < MIN_ENROLLMENT_FACES) {
    throw new EnrollmentRefusedError(
      `enrollment of ${userId} refused: ${usable.length} usable face(s), at least ${MIN_ENROLLMENT_FACES} needed; nothing was kept`,
      skipped,
    );
  }
  // --- Lookalike pressure (issue 13, lookalike.ts): close to someone enrolled -> both thresholds
  // raised in the user's own transaction, or refused when that would refuse either person's own photos.
  const lookalike = await judgeLookalikes(
    storage.embeddings,
    { userId, vectors: usable.map((u) => u.embedding.vector) },
    t.match,
    review?.actor ?? 'enrollment',
    async (id) => (await storage.db.listUserEmbeddings(id, storage.embeddings.modelId)).map((e) => e.vector),
  );
  if (lookalike.refusal) {
    throw new EnrollmentRefusedError(
      `enrollment of ${userId} refused: ${lookalike.refusal}; nothing was kept`,
      skipped,
    );
  }
  // --- end of lookalike pressure ---

  // Originals kept from an earlier, deleted enrollment of this id are never removed by a failure now.
  const hadImages = await hasImageFolder(storage, userId);
  let created = false;
  try {
    const crops: StoredImage[] = [];
    for (const u of usable) {
      const info = { cameraId: u.cameraId, qualityScore: u.qualityScore };
      await storage.images.saveOriginal(userId, u.original, info);
      crops.push(await storage.images.saveAligned(userId, u.alignedPng, info));
    }
    const { embeddings, review: action } = await storage.db.createUser(
      {
        id: userId,
        name: person.name,
        department: person.department ?? null,
        ...(person.roles ? { roles: person.roles } : {}),
      },
      usable.map((u, i) => ({
        image: (crops[i] as StoredImage).file,
        modelId: u.embedding.modelId,
        vector: u.embedding.vector,
      })),
      {
        // The review records what was kept: how many faces, how many skipped.
        ...(review
          ? {
              review: { ...review, details: { ...review.details, embeddings: usable.length, skipped: skipped.length } },
            }
          : {}),
        corrections: lookalike.corrections,
      },
    );
    created = true;
    await storage.embeddings.add(
      embeddings.map((e) => ({ embeddingId: e.id, userId, image: e.image, modelId: e.modelId, vector: e.vector })),
    );
    const { nearest, lookalikes, threshold } = lookalike;
    return { userId, embeddings: embeddings.length, skipped, nearest, lookalikes, threshold, review: action };
  } catch (error) {
    // Nothing half-kept: a user who was never enrolled leaves no rows, no index entries, no files.
    if (created) await storage.db.deleteUser(userId).catch(() => undefined);
    await storage.images.removeUser(userId, { includeOriginals: !hadImages }).catch(() => undefined);
    throw error;
  }
}

/**
 * Deletes a user: database rows (their embeddings with them), their ids from the index, and
 * their aligned crops; originals stay (the LLD) unless purgeImages. The database's commit is the
 * point of no return: before it a failure leaves the user wholly intact; after it the index drops
 * the ids in memory at once (its snapshot may follow later: a full disk), so the user is never
 * matched again, and files a failure leaves are removed by the start-up sweep.
 */
export async function deleteUser(
  storage: Storage,
  userId: string,
  options: { purgeImages: boolean },
): Promise<{ embeddings: number }> {
  return withUserLock(validateId('user', userId), async () => {
    if (!(await storage.db.getUser(userId)))
      throw new NotFoundError(`Expected an existing user but there is no user ${userId}`);
    // Recorded before the rows go: if the process dies in between, the sweep still knows these
    // originals are a committed user's (kept, the LLD) and not an enrollment that never committed.
    const marked = options.purgeImages ? [] : await storage.images.markOriginalsKept(userId);
    let embeddingIds: bigint[];
    try {
      ({ embeddingIds } = await storage.db.deleteUser(userId));
    } catch (error) {
      // A refused delete leaves the user exactly as it was: the mark is undone. Not after a lost
      // connection, which may have cut the reply to a COMMIT that went through: the mark stays,
      // so the sweep never takes the originals of a user who is in fact deleted (a stale mark on
      // a live user is harmless: the next delete writes it afresh).
      const maybeCommitted = error instanceof ReadOnlyError && error.reason === 'database unavailable';
      // The delete's own error is the one to report; a failed undo leaves only that harmless mark.
      if (!maybeCommitted) await storage.images.unmarkOriginalsKept(userId, marked).catch(() => undefined);
      throw error;
    }
    await storage.embeddings.removeIds(embeddingIds);
    try {
      await storage.images.removeUser(userId, { includeOriginals: options.purgeImages });
    } catch (error) {
      const { code, path } = error as NodeJS.ErrnoException;
      throw Object.assign(
        new Error(
          `user ${userId} is deleted (database rows and index) but its image files were not all removed ` +
            `(${(error as Error).message}); the next start's sweep removes what is left`,
          { cause: error },
        ),
        { code, path },
      );
    }
    return { embeddings: embeddingIds.length };
  });
}
