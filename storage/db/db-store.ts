// DbStore: users, roles, the durable record of every embedding, the append-only event log (each
// recognition with its access verdict, issue 17, and the appliance that wrote it, issue 18), match corrections and threshold calibrations (their types here; their checks and SQL in
// match-corrections.ts and threshold-calibrations.ts), and the unknown faces kept for review
// (their interface: unknown-face-records.ts). One implementation (sql-db-store.ts) runs on a
// PostgreSQL server or on embedded PGlite. This interface imports no implementation.
import type { GroupResolution, ReviewAction, UnknownFaceRecords } from './unknown-face-records.js';

export type UserStatus = 'active' | 'disabled';

export interface User {
  id: string;
  name: string;
  department: string | null;
  status: UserStatus;
  createdAt: Date;
  roles: string[];
}

export interface NewUser {
  id: string;
  name: string;
  department?: string | null;
  roles?: string[];
}

export interface NewEmbedding {
  image: string;
  modelId: string;
  vector: Float32Array;
}

export interface EmbeddingRecord {
  id: bigint;
  userId: string;
  image: string;
  modelId: string;
  vector: Float32Array;
  createdAt: Date;
}

// Access verdicts (issue 17, migration 005): what the access rules (src/access/rules.ts) decided for
// a recognition, kept with its event in the append-only log.
export const ACCESS_VERDICTS = ['granted', 'denied', 'unknown'] as const;
export type AccessVerdictKind = (typeof ACCESS_VERDICTS)[number];
/** A recognition's access verdict and why (printable text, 1-500 characters). */
export interface EventAccess {
  verdict: AccessVerdictKind;
  reason: string;
}

export interface RecognitionEvent {
  /** UUIDv7; made by the store when absent. */
  id?: string;
  timestamp: Date;
  cameraId: string;
  /** null when unknown. */
  matchedUserId: string | null;
  confidence: number;
  trackId?: string | null;
  modelId?: string | null;
  threshold?: number | null;
  /** The access verdict; absent or null where no access control is configured. */
  access?: EventAccess | null;
}

export interface CameraEvent {
  id?: string;
  timestamp: Date;
  cameraId: string;
  eventType: string;
  details?: Record<string, unknown>;
}

// Events carry no appliance id when written: the store stamps its own (StorageConfig.applianceId) on
// every write, so no caller can forget it or give another appliance's (issue 18, migration 006).

export interface StoredRecognitionEvent extends Required<
  Omit<RecognitionEvent, 'trackId' | 'modelId' | 'threshold' | 'access'>
> {
  /** The appliance that recorded it; null: recorded before migration 006 (a single appliance without an id). */
  applianceId: string | null;
  isUnknown: boolean;
  trackId: string | null;
  modelId: string | null;
  threshold: number | null;
  /** null: recorded without access control (or before migration 005). */
  access: EventAccess | null;
}

export type StoredCameraEvent = Required<CameraEvent> & {
  /** The appliance that recorded it; null: recorded before migration 006. */
  applianceId: string | null;
};

export interface EventQuery {
  since?: Date;
  until?: Date;
  cameraId?: string;
  userId?: string;
  /** 1..1000, default 100. */
  limit?: number;
  /** Keyset paging: events strictly older than this event id (ids sort by time). */
  before?: string;
  /** Recognition events with this access verdict only (camera events have none: refused there). */
  access?: AccessVerdictKind;
  /** Events recorded by this appliance only (recognition and camera events alike; issue 18). */
  appliance?: string;
  /** Recognition events that named someone ('known') or nobody ('unknown') only (camera events have no outcome: refused there). */
  outcome?: EventOutcome;
}

export const EVENT_OUTCOMES = ['known', 'unknown'] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

/** Where an event write went: the database, or the local spool while it is unreachable. */
export type EventWrite = { id: string; stored: 'database' | 'spool' };

// Match corrections (migration 003; their checks and SQL: match-corrections.ts).
export const CORRECTION_SOURCES = ['operator', 'lookalike'] as const;
export type CorrectionSource = (typeof CORRECTION_SOURCES)[number];

export interface NewMatchCorrection {
  /** Who recorded it: a person ("cli:ada", "api:bob") or the enrolment that found a lookalike. */
  actor: string;
  /** The user wrongly named, or to be told apart from. */
  userId: string;
  source: CorrectionSource;
  /** The recognition event marked wrong, when the correction is by event. */
  eventId?: string | null;
  /** The face's score against that user when recorded (cosine). */
  score: number;
  /** The embedding model that gave the score: a correction only counts for that model. */
  modelId: string;
  /** The face's embedding, where one is available. */
  vector?: Float32Array | null;
  details?: Record<string, unknown>;
}

export interface MatchCorrection {
  id: string;
  /** The database's clock. */
  timestamp: Date;
  actor: string;
  userId: string;
  source: CorrectionSource;
  eventId: string | null;
  score: number;
  modelId: string;
  vector: Float32Array | null;
  details: Record<string, unknown>;
}

/** A user's corrections for one model, folded: what the per-user threshold is computed from. */
export interface CorrectionRaise {
  userId: string;
  /** The highest correction score. */
  maxScore: number;
  /** How many corrections. */
  count: number;
}

// Site calibrations of the match threshold (migration 004; their checks and SQL: threshold-calibrations.ts).
export interface NewThresholdCalibration {
  /** The embedding model the scores came from (name + sha256, as the index records it). */
  modelId: string;
  /** The match threshold proposed (0..1, cosine). */
  matchThreshold: number;
  /** Active enrolled users it was proposed for. */
  gallerySize: number;
  /** The highest acceptable probability that a stranger is named as someone. */
  target: number;
  /** Impostor scores from each source. */
  impostorScores: { gallery: number; unknown: number; labelled: number };
  genuineScores: number;
  /** The fitted tail: where it starts, how many scores were above, the GPD shape and scale. */
  tail: { threshold: number; exceedances: number; shape: number; scale: number };
  /** Share of genuine scores at or above the threshold; null without genuine scores. */
  expectedGenuineAccept: number | null;
  /** Anything else worth keeping with the row (the labelled folder, the compared gallery sizes). */
  details?: Record<string, unknown>;
}

export interface ThresholdCalibration extends NewThresholdCalibration {
  id: bigint;
  createdAt: Date;
  details: Record<string, unknown>;
}

// The change feed (issue 18, migration 007): every write that changes a user or adds or removes
// face embeddings appends its changes, numbered gaplessly in commit order, in its own transaction;
// each appliance applies those after its mark to its index (storage/embeddings/change-follower.ts).
export const CHANGE_KINDS = ['embeddings-added', 'embeddings-removed', 'user-changed'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface Change {
  /** Gapless, in commit order: whoever has read seq N has seen every change below it. */
  seq: bigint;
  /** The database's clock at the change. */
  at: Date;
  /** The appliance that made it; null for a writer without one. */
  applianceId: string | null;
  kind: ChangeKind;
  userId: string;
  /** The embeddings added or removed (one model per change); empty for user-changed. */
  embeddingIds: bigint[];
  /** Those embeddings' model; null for user-changed. */
  modelId: string | null;
}

/** The NOTIFY channel a committed change wakes the appliances on (its payload: the highest seq committed). */
export const CHANGE_CHANNEL = 'facegate_changes';

export interface DbHealth {
  engine: 'postgres' | 'pglite';
  available: boolean;
  /** Events waiting in the local spool for the database to return. */
  spooled: number;
  lastError: string | null;
}

/**
 * The review of an unknown-face group that an enrolment or an assignment comes from, committed with
 * it: createUser and addEmbeddings then also do what `unknown.resolveGroup` does (close the group,
 * write its review action) in their own transaction, so that the user or embeddings and the review
 * exist together or not at all. The group must be open: NotFoundError for no such group,
 * ConflictError for one already reviewed (two reviewers at once: one wins), and nothing is written.
 */
export interface WithReview {
  review?: GroupResolution;
}

export interface DbStore {
  /** The appliance this store writes as: stamped on every event, camera event, review action and unknown-face group. */
  readonly applianceId: string;
  health(): DbHealth;
  /** Called each time the database becomes reachable (at start and after an outage): the embedding index re-verifies then. */
  onAvailable(listener: () => void): void;

  /**
   * With `review`, the unknown-face group it comes from is closed in the same transaction (enrolled, and its review action written; WithReview).
   * With `corrections`, those match corrections are recorded in it too (a lookalike's, for the new user and the enrolled one).
   */
  createUser(
    user: NewUser,
    embeddings?: NewEmbedding[],
    options?: WithReview & { corrections?: NewMatchCorrection[] },
  ): Promise<{ user: User; embeddings: EmbeddingRecord[]; review: ReviewAction | null }>;
  getUser(id: string): Promise<User | null>;
  listUsers(filter?: { status?: UserStatus }): Promise<User[]>;
  setUserStatus(id: string, status: UserStatus): Promise<User>;
  /**
   * Replaces the user's roles in one transaction (duplicates kept once; printable names, as createUser
   * takes them); returns the user with its roles sorted. NotFoundError for no such user; ReadOnlyError
   * while the database is down.
   */
  setUserRoles(userId: string, roles: string[]): Promise<User>;
  /** Deletes the user and their embeddings; returns the embedding ids removed (for the index). */
  deleteUser(id: string): Promise<{ embeddingIds: bigint[] }>;

  /** With `review`, as createUser (a group assigned to the user; WithReview). */
  addEmbeddings(userId: string, embeddings: NewEmbedding[], options?: WithReview): Promise<EmbeddingRecord[]>;
  /** Every embedding of a model, in id order (the index is rebuilt from these). */
  listEmbeddings(modelId: string): Promise<EmbeddingRecord[]>;
  embeddingIds(modelId: string): Promise<bigint[]>;
  /** How many embeddings a user has (all models): auto-learning's per-user cap. */
  countEmbeddings(userId: string): Promise<number>;

  /** Durable when it resolves: in the database, or in the fsync'd spool while the database is down. */
  recordRecognition(event: RecognitionEvent): Promise<EventWrite>;
  recordRecognitions(events: RecognitionEvent[]): Promise<EventWrite[]>;
  recordCameraEvent(event: CameraEvent): Promise<EventWrite>;
  queryRecognitionEvents(query?: EventQuery): Promise<StoredRecognitionEvent[]>;
  queryCameraEvents(query?: EventQuery): Promise<StoredCameraEvent[]>;

  // --- Match corrections (issue 13: "not this person", lookalike pressure; match-corrections.ts) ---
  /** One recognition event by id; null when there is none (in the database: spooled events are not there yet). */
  getRecognitionEvent(id: string): Promise<StoredRecognitionEvent | null>;
  /** Records a correction (append-only); needs the database (refused while read-only). */
  recordCorrection(correction: NewMatchCorrection): Promise<MatchCorrection>;
  /** The corrections that count for the user enrolled now under this id, oldest first (one model, or all). */
  listCorrections(userId: string, modelId?: string): Promise<MatchCorrection[]>;
  /** Per enrolled user, the highest correction score and the count for one model (the per-user thresholds). */
  correctionRaises(modelId: string): Promise<CorrectionRaise[]>;
  /** One user's embeddings of one model, in id order (a face scored against their gallery; their nearest other person). */
  listUserEmbeddings(userId: string, modelId: string): Promise<EmbeddingRecord[]>;
  // --- end of match corrections ---

  /** Unknown-face crops with their embeddings, their groups, and the review trail. */
  readonly unknown: UnknownFaceRecords;

  // --- Site calibration of the match threshold (issue 13, threshold-calibrations.ts) ---
  /** Appends a calibration (append-only: a new one is a new row). Needs the database: ReadOnlyError while it is down. */
  recordThresholdCalibration(calibration: NewThresholdCalibration): Promise<ThresholdCalibration>;
  /** The newest calibration of one embedding model; null when the site never calibrated it. */
  latestThresholdCalibration(modelId: string): Promise<ThresholdCalibration | null>;
  /** Every kept unknown face of a model with the user its group was enrolled as or assigned to (null while nobody): calibration's strangers. */
  calibrationStrangers(modelId: string): Promise<{ vector: Float32Array; userId: string | null }[]>;
  // --- end of site calibration ---

  // --- The change feed (issue 18, migration 007) ---
  /** Up to `limit` (1..10000) changes with seq > afterSeq, in seq order. Needs the database (ReadOnlyError while it is down). */
  readChanges(afterSeq: bigint, limit: number): Promise<Change[]>;
  /** The highest seq committed (0n before any change). Needs the database. */
  latestChangeSeq(): Promise<bigint>;
  /**
   * Called with the seq a NOTIFY carried each time a change commits (at any appliance on this
   * database), and with null after the LISTEN connection was re-established (changes may have been
   * missed meanwhile). A notification can be lost (a dropped link): listeners poll as well.
   */
  onChangeNotified(listener: (seq: bigint | null) => void): void;
  /** The embeddings with these ids (any model) that still exist, in id order; the vectors a follower adds. */
  embeddingsByIds(ids: bigint[]): Promise<EmbeddingRecord[]>;
  // --- end of the change feed ---

  /** Writes spooled events into the database (each once); returns how many were replayed. */
  replaySpool(): Promise<number>;
  close(): Promise<void>;
}
