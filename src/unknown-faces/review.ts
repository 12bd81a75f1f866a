// Reviewing unknown-face groups, from the CLI and the HTTP API alike: list, show, and the three
// actions, each written to the append-only review trail with who did it.
// - enroll: a new user from the group's best crops, through enrollment's own rules (at least 3
//   usable faces, none matching another user, one person); the crops are copied into the user's
//   images, so retention of the unknown folder loses nothing.
// - assign: the group's faces join an existing user only where each passes auto-learning's guards
//   (quality, score to that user, margin over everyone else, not a near-copy, the per-user cap).
//   The operator's word replaces "the pipeline recognised them", nothing else.
// - dismiss: the group is closed and its crops and embeddings are deleted now, not at retention.
// A reviewed group takes no new faces: a later sighting of the same stranger starts a new group.
// Several appliances on one database (issue 18): each groups its own strangers, and storage stamps
// each group and review action with the appliance id. Every appliance lists every group, but a
// group is reviewed at the appliance that saw it: its crops are on that appliance's disk.
import { isPrintableLine, isPrintableText, quoteReceived } from '../../storage/checks.js';
import type { Storage } from '../../storage/index.js';
import { ConflictError, NotFoundError } from '../../storage/errors.js';
import type { Logger } from '../../storage/logger.js';
import { validateId } from '../../storage/ids.js';
import {
  type GroupQuery,
  parseGroupId,
  type ReviewAction,
  type UnknownFace,
  type UnknownGroup,
} from '../../storage/index.js';
import { DEFAULT_LEARNING_POLICY, learningRefusal, type LearningPolicy } from '../recognition/auto-learning.js';
import type { DecisionThresholds } from '../recognition/decision.js';
import {
  enrollFaces,
  type EnrollResult,
  type EnrollmentFace,
  type NewPerson,
  type Skipped,
} from '../recognition/enrollment.js';
import { cosine } from '../recognition/similarity.js';
import { withGalleryLock, withUserLock } from '../recognition/user-lock.js';
import type { UnknownFaceGrouping } from './grouping.js';

export interface ReviewDeps {
  storage: Storage;
  grouping: UnknownFaceGrouping;
  logger: Logger;
  thresholds?: DecisionThresholds;
  /** The guards an assignment passes (the policy's `enabled` flag is not consulted: the operator asked). */
  learning?: Readonly<LearningPolicy>;
}

/** An assignment none of whose faces may join the user: nothing was changed. */
export class AssignmentRefusedError extends Error {
  override name = 'AssignmentRefusedError';
  constructor(
    message: string,
    readonly skipped: Skipped[],
  ) {
    super(message);
  }
}

/**
 * A review request's own fields refused (who acted, why): the CLI's and the API's reviewer, not a
 * value the store refused (StoreInputError), so it has its own name. The API answers 400.
 */
export class ReviewInputError extends Error {
  override name = 'ReviewInputError';
}

/** Who acted: 1-200 printable characters (a user name, "api:alice"). */
export function checkActor(actor: unknown): string {
  if (!isPrintableLine(actor, 200)) {
    throw new ReviewInputError(
      `Expected the reviewer's name (1-200 printable characters) but received ${typeof actor === 'string' ? quoteReceived(actor, 40) : typeof actor}`,
    );
  }
  return actor.trim();
}

/** A face as shown to a reviewer (no vector). */
export function faceJson(f: UnknownFace) {
  return {
    id: f.id,
    eventId: f.eventId,
    cameraId: f.cameraId,
    seenAt: f.seenAt,
    image: f.image,
    quality: Number(f.quality.toFixed(3)),
  };
}

export async function listGroups(storage: Storage, query: GroupQuery = {}): Promise<UnknownGroup[]> {
  return storage.db.unknown.listGroups(query);
}

export async function showGroup(
  storage: Storage,
  id: unknown,
): Promise<{ group: UnknownGroup; faces: ReturnType<typeof faceJson>[]; actions: ReviewAction[] }> {
  const group = await existingGroup(storage, id);
  const faces = await storage.db.unknown.groupFaces(group.id);
  return { group, faces: faces.map(faceJson), actions: await storage.db.unknown.reviewActions({ groupId: group.id }) };
}

/** The group's best crop (PNG bytes) and its face. */
export async function groupCrop(
  storage: Storage,
  id: unknown,
): Promise<{ png: Buffer; face: { id: bigint; image: string } }> {
  const group = await existingGroup(storage, id);
  if (!group.best)
    throw new NotFoundError(`Expected a group with faces but group ${group.id} has none left (${group.status})`);
  return {
    png: await readCrop(storage, group.best.image, group),
    face: { id: group.best.faceId, image: group.best.image },
  };
}

/** One face's crop in its group (the crop URL of an unknown face's message, src/outputs/message.ts). */
export async function faceCrop(storage: Storage, groupId: unknown, faceId: unknown): Promise<{ png: Buffer }> {
  const group = await existingGroup(storage, groupId);
  if (typeof faceId !== 'string' || !/^[1-9][0-9]{0,17}$/.test(faceId))
    throw new ReviewInputError(
      `Expected a face id (a positive whole number) but received ${quoteReceived(faceId, 40)}`,
    );
  const face = (await storage.db.unknown.groupFaces(group.id)).find((f) => f.id === BigInt(faceId));
  if (!face)
    throw new NotFoundError(
      `Expected a face of group ${group.id} but it has no face ${faceId} (retention or a dismissal removes faces)`,
    );
  return { png: await readCrop(storage, face.image, group) };
}

/** Another appliance's group (issue 18), or null when it is this appliance's (or from before appliance ids). */
function otherAppliance(storage: Storage, group: UnknownGroup): string | null {
  return group.applianceId !== null && group.applianceId !== storage.db.applianceId ? group.applianceId : null;
}

async function readCrop(storage: Storage, image: string, group: UnknownGroup): Promise<Buffer> {
  return storage.images.readUnknown(image).catch((error: unknown) => {
    // Deleted by hand, quarantined by a scanner, missed by a restore: missing, not a failure.
    if ((error as { code?: unknown }).code === 'ENOENT') {
      const other = otherAppliance(storage, group);
      throw new NotFoundError(
        other === null
          ? `Expected the crop ${image} on disk but it is missing`
          : `Expected the crop ${image} on this appliance (${storage.db.applianceId}) but group ${group.id} was seen by appliance ${other}, which keeps its crops`,
      );
    }
    throw error;
  });
}

export async function enrollGroup(
  deps: ReviewDeps,
  request: { groupId: unknown; actor: string } & NewPerson,
): Promise<{ group: UnknownGroup; enrollment: EnrollResult; action: ReviewAction }> {
  const actor = checkActor(request.actor);
  const userId = validateId('user', request.userId);
  return deps.grouping.run(async () => {
    const group = await openGroup(deps.storage, request.groupId);
    const { faces, skipped } = await readFaces(deps, group.id);
    // The user's rows and the group's review commit in one transaction: an enrollment never
    // exists without its review action, nor the action without the user.
    const { review, ...enrollment } = await enrollFaces(
      { storage: deps.storage, ...(deps.thresholds ? { thresholds: deps.thresholds } : {}) },
      { ...request, userId },
      faces,
      {
        skipped,
        review: {
          groupId: group.id,
          status: 'enrolled',
          action: 'enroll',
          actor,
          userId,
          details: { name: request.name },
        },
      },
    );
    deps.grouping.forgetGroup(group.id);
    deps.logger.info(
      { group: group.id.toString(), userId, actor, embeddings: enrollment.embeddings },
      'unknown faces: group enrolled',
    );
    return {
      group: (await deps.storage.db.unknown.getGroup(group.id)) as UnknownGroup,
      enrollment,
      action: review as ReviewAction,
    };
  });
}

export async function assignGroup(
  deps: ReviewDeps,
  request: { groupId: unknown; userId: string; actor: string },
): Promise<{ group: UnknownGroup; added: number; skipped: Skipped[]; action: ReviewAction }> {
  const actor = checkActor(request.actor);
  const userId = validateId('user', request.userId);
  const policy = deps.learning ?? DEFAULT_LEARNING_POLICY;
  const { storage } = deps;
  // Under the gallery's lock too: the margin over everyone else is judged against the gallery as
  // it stands, and no enrollment may add a lookalike between that judgement and the insert.
  return deps.grouping.run(() =>
    withUserLock(userId, () =>
      withGalleryLock(async () => {
        const group = await openGroup(storage, request.groupId);
        if (!(await storage.db.getUser(userId)))
          throw new NotFoundError(`Expected an existing user but there is no user ${userId}`);
        const { faces, skipped } = await readFaces(deps, group.id);
        // Every face is judged before anything is written, against the gallery as it stands and
        // the faces of this group already accepted (the near-copy rule and the cap count them too).
        const accepted: EnrollmentFace[] = [];
        const room = policy.maxEmbeddingsPerUser - (await storage.db.countEmbeddings(userId));
        for (const face of faces) {
          const twin = Math.max(-1, ...accepted.map((a) => cosine(a.embedding.vector, face.embedding.vector)));
          const refusal =
            face.embedding.modelId !== storage.embeddings.modelId
              ? `embedded by ${face.embedding.modelId}, not the model in use`
              : ((await learningRefusal(storage, policy, userId, face.embedding.vector, face.qualityScore)) ??
                (twin > policy.maxSimilarityToOwn
                  ? `near-duplicate of another face of this group (${twin.toFixed(3)})`
                  : accepted.length >= room
                    ? `${userId} would exceed ${policy.maxEmbeddingsPerUser} embeddings`
                    : null));
          if (refusal) skipped.push({ file: face.name, reason: refusal });
          else accepted.push(face);
        }
        if (accepted.length === 0) {
          throw new AssignmentRefusedError(
            `assignment of group ${group.id} to ${userId} refused: no face passed the learning guards; nothing was changed`,
            skipped,
          );
        }
        // Crops first; then the embeddings and the group's review in one transaction; then the index.
        // A transaction that fails takes the crops back with it.
        const crops: string[] = [];
        let records;
        try {
          for (const a of accepted)
            crops.push(
              (
                await storage.images.saveAligned(userId, a.alignedPng, {
                  cameraId: a.cameraId,
                  qualityScore: a.qualityScore,
                })
              ).file,
            );
          records = await storage.db.addEmbeddings(
            userId,
            accepted.map((a, i) => ({
              image: crops[i] as string,
              modelId: a.embedding.modelId,
              vector: a.embedding.vector,
            })),
            {
              review: {
                groupId: group.id,
                status: 'assigned',
                action: 'assign',
                actor,
                userId,
                details: { added: accepted.length, skipped: skipped.length },
              },
            },
          );
        } catch (error) {
          await storage.images
            .removeAligned(userId, crops)
            .catch((e: unknown) =>
              deps.logger.warn(
                { err: e, userId },
                'unknown faces: could not remove the crops of an assignment that failed',
              ),
            );
          throw error;
        }
        await storage.embeddings.add(
          records.map((r) => ({ embeddingId: r.id, userId, image: r.image, modelId: r.modelId, vector: r.vector })),
        );
        deps.grouping.forgetGroup(group.id);
        deps.logger.info(
          { group: group.id.toString(), userId, actor, added: records.length },
          'unknown faces: group assigned',
        );
        const [action] = await storage.db.unknown.reviewActions({ groupId: group.id, limit: 1 });
        return {
          group: (await storage.db.unknown.getGroup(group.id)) as UnknownGroup,
          added: records.length,
          skipped,
          action: action as ReviewAction,
        };
      }),
    ),
  );
}

export async function dismissGroup(
  deps: ReviewDeps,
  request: { groupId: unknown; actor: string; reason?: string },
): Promise<{ group: UnknownGroup; removedFaces: number; action: ReviewAction }> {
  const actor = checkActor(request.actor);
  if (request.reason !== undefined && (request.reason.length > 200 || !isPrintableText(request.reason))) {
    throw new ReviewInputError(
      `Expected the reason to be printable text of at most 200 characters but received ${quoteReceived(request.reason, 40)}`,
    );
  }
  return deps.grouping.run(async () => {
    const group = await openGroup(deps.storage, request.groupId);
    const { action, removed } = await deps.storage.db.unknown.resolveGroup({
      groupId: group.id,
      status: 'dismissed',
      action: 'dismiss',
      actor,
      ...(request.reason ? { details: { reason: request.reason } } : {}),
    });
    deps.grouping.forget(removed.map((r) => r.id));
    // The rows are gone; a crop that cannot be deleted now (a Windows scanner holding it) is an
    // orphan file that retention removes with its date folder.
    for (const r of removed) {
      await deps.storage.images
        .removeUnknown(r.image)
        .catch((e: unknown) =>
          deps.logger.warn({ err: e, image: r.image }, 'unknown faces: crop not deleted; retention will'),
        );
    }
    deps.logger.info(
      { group: group.id.toString(), actor, removedFaces: removed.length },
      'unknown faces: group dismissed',
    );
    return {
      group: (await deps.storage.db.unknown.getGroup(group.id)) as UnknownGroup,
      removedFaces: removed.length,
      action,
    };
  });
}

async function existingGroup(storage: Storage, id: unknown): Promise<UnknownGroup> {
  const groupId = parseGroupId(id);
  const group = await storage.db.unknown.getGroup(groupId);
  if (!group)
    throw new NotFoundError(
      `Expected an existing unknown-face group but there is no group ${groupId} (retention removes groups left without faces)`,
    );
  return group;
}

async function openGroup(storage: Storage, id: unknown): Promise<UnknownGroup> {
  const group = await existingGroup(storage, id);
  if (group.status !== 'open') {
    throw new ConflictError(
      `Expected an open group but group ${group.id} is already ${group.status}${group.userId ? ` (${group.userId})` : ''}`,
    );
  }
  // Enrolling or assigning needs the crops, and a dismissal here would delete the rows while the
  // crops stay on the other appliance's disk with nothing left to purge them.
  const other = otherAppliance(storage, group);
  if (other !== null) {
    throw new ConflictError(
      `Expected a group seen by this appliance (${storage.db.applianceId}) but group ${group.id} was seen by appliance ${other}: review it there, where its crops are`,
    );
  }
  return group;
}

/** The group's faces with their crops, best quality first; a crop that cannot be read is skipped with its reason. */
async function readFaces(deps: ReviewDeps, groupId: bigint): Promise<{ faces: EnrollmentFace[]; skipped: Skipped[] }> {
  const faces: EnrollmentFace[] = [];
  const skipped: Skipped[] = [];
  for (const f of await deps.storage.db.unknown.groupFaces(groupId)) {
    let png: Buffer;
    try {
      png = await deps.storage.images.readUnknown(f.image);
    } catch (error) {
      skipped.push({ file: f.image, reason: `crop unreadable: ${(error as Error).message}` });
      continue;
    }
    faces.push({
      name: f.image,
      original: png,
      alignedPng: png,
      qualityScore: f.quality,
      embedding: { vector: f.vector, modelId: f.modelId },
      cameraId: f.cameraId,
    });
  }
  return { faces, skipped };
}
