// The unknown faces kept for review (migration 002), as the rest of the code sees them: the rows'
// types, the UnknownFaceRecords interface (DbStore.unknown) and the group-id check. The SQL behind
// them is sql-unknown-face-records.ts; callers above storage import these through storage/index.ts.
import { StoreInputError } from '../errors.js';
import { quoteReceived } from '../checks.js';

export type GroupStatus = 'open' | 'enrolled' | 'assigned' | 'dismissed';
export const GROUP_STATUSES: readonly GroupStatus[] = ['open', 'enrolled', 'assigned', 'dismissed'];
export type ReviewActionKind = 'enroll' | 'assign' | 'dismiss';

export interface NewUnknownFace {
  /** The recognition event of the track this crop is the best face of (already in the database). */
  eventId: string;
  cameraId: string;
  seenAt: Date;
  /** The images/unknown/{day} folder (YYYY-MM-DD, UTC). */
  day: string;
  /** The crop, relative to the data root with forward slashes (ImageStore.saveUnknown's relativePath). */
  image: string;
  quality: number;
  modelId: string;
  vector: Float32Array;
}

export interface UnknownFace extends NewUnknownFace {
  id: bigint;
  groupId: bigint;
}

export interface UnknownGroup {
  id: bigint;
  /** The appliance whose camera saw it (its crops are on that appliance's disk); null: made before migration 006. */
  applianceId: string | null;
  status: GroupStatus;
  /** The user it was enrolled as or assigned to. */
  userId: string | null;
  modelId: string;
  createdAt: Date;
  resolvedAt: Date | null;
  faces: number;
  firstSeen: Date | null;
  lastSeen: Date | null;
  cameras: string[];
  /** The group's best-quality crop (null once retention or dismissal removed every face). */
  best: { faceId: bigint; image: string; quality: number } | null;
}

export interface GroupQuery {
  /** Default 'open'. */
  status?: GroupStatus | 'all';
  /** Groups seen at or after this time. */
  since?: Date;
  /** Groups seen on this camera. */
  cameraId?: string;
  /** Groups of this appliance (issue 18); absent: every appliance's. */
  appliance?: string;
  /** 1..1000, default 100. */
  limit?: number;
}

export interface NewReviewAction {
  actor: string;
  action: ReviewActionKind;
  groupId: bigint;
  userId?: string | null;
  details?: Record<string, unknown>;
  /** Defaults to now. */
  timestamp?: Date;
}

export interface ReviewAction {
  id: string;
  /** The appliance the review was made at; null: made before migration 006. */
  applianceId: string | null;
  timestamp: Date;
  actor: string;
  action: ReviewActionKind;
  groupId: bigint;
  userId: string | null;
  details: Record<string, unknown>;
}

/** A group's review: its new status and the action recorded (DbStore.createUser and addEmbeddings take one too, committed with them). */
export type GroupResolution = NewReviewAction & { status: Exclude<GroupStatus, 'open'> };

/** A face removed from the database: its id (for the grouping index) and its crop (to delete). */
export interface RemovedFace {
  id: bigint;
  groupId: bigint;
  image: string;
}

export interface UnknownFaceRecords {
  /** Adds a face to an open group, or to a new group when groupId is null; returns it with its group id. */
  addFace(face: NewUnknownFace, groupId: bigint | null): Promise<UnknownFace>;
  /**
   * Every face of every open group for one model that this appliance may add to: its own groups and
   * those made before migration 006 (the grouping index is built from these; grouping stays per appliance).
   */
  openGroupFaces(modelId: string): Promise<{ id: bigint; groupId: bigint; vector: Float32Array }[]>;
  listGroups(query?: GroupQuery): Promise<UnknownGroup[]>;
  getGroup(id: bigint): Promise<UnknownGroup | null>;
  /** A group's faces, best quality first. */
  groupFaces(id: bigint): Promise<UnknownFace[]>;
  /**
   * Closes an open group (enrolled, assigned, dismissed) and writes its review action, in one
   * transaction; a dismissal also deletes the group's faces. Throws NotFoundError for no such
   * group and ConflictError for one already reviewed (two reviewers at once: one wins).
   */
  resolveGroup(review: GroupResolution): Promise<{ action: ReviewAction; removed: RemovedFace[] }>;
  /**
   * Deletes the faces of days before `cutoffDay`, the open groups this leaves without a face, and
   * reviewed groups without faces reviewed before the cutoff (dryRun: only counts). This appliance's
   * groups and those made before migration 006 only: another appliance's crops are on its own disk,
   * and its own retention deletes them with their rows.
   */
  deleteFacesBefore(
    cutoffDay: string,
    options?: { dryRun?: boolean },
  ): Promise<{ removed: RemovedFace[]; removedGroups: bigint[] }>;
  /** The review trail, newest first (of one group, or all). */
  reviewActions(query?: { groupId?: bigint; limit?: number }): Promise<ReviewAction[]>;
  /**
   * The face kept for each of these recognition events, by event id (an event has at most one:
   * the best face of its track); events without one are absent. At most 1000 ids (a page of events).
   */
  facesOfEvents(eventIds: string[]): Promise<Map<string, { groupId: bigint; faceId: bigint }>>;
}

/** A group id from anywhere (CLI argument, URL): a positive integer, or a clear refusal. */
export function parseGroupId(value: unknown): bigint {
  const text = typeof value === 'bigint' ? value.toString() : typeof value === 'number' ? String(value) : value;
  // 18 digits stay inside PostgreSQL's bigint.
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,17}$/.test(text)) {
    const shown = typeof text === 'string' ? quoteReceived(text, 40) : typeof value;
    throw new StoreInputError(
      `Expected a group id (a positive whole number, as "facegate unknown list" shows) but received ${shown}`,
    );
  }
  return BigInt(text);
}
