// ImageStore: face images on the filesystem, in the LLD's layout under the data root:
//   images/users/{user_id}/original/img_001.jpg ...   uploads as received; never deleted by the system
//   images/users/{user_id}/aligned/face_001.png ...   112x112 model-ready crops
//   images/users/{user_id}/metadata.json              the LLD's keys plus the list of images and their sha256,
//                                                     and which originals stay when the user is deleted
//   images/unknown/{YYYY-MM-DD}/{camera}_{HHmmssSSS}.png   unknown faces, purged by whole date folders

export type ImageKind = 'original' | 'aligned';

export interface StoredImage {
  kind: ImageKind;
  /** The file name inside its folder, e.g. "img_001.jpg" or "face_002.png". */
  file: string;
  sha256: string;
  bytes: number;
  createdAt: string;
  cameraId: string | null;
  qualityScore: number | null;
}

/** metadata.json: the LLD's three keys (of the latest image) and every image with its checksum. */
export interface UserImageMetadata {
  created_at: string;
  camera_id: string | null;
  quality_score: number | null;
  images: StoredImage[];
  /**
   * The originals of a committed enrollment that stay when the user is deleted (the LLD: originals
   * are never deleted), recorded by markOriginalsKept() before the user's rows are deleted. Without
   * it, a folder with no user row is an enrollment that never committed, and the sweep removes it.
   * A record written before this key existed keeps all its originals.
   */
  kept_originals: string[];
}

/** What sweepLeftovers() found and did; paths relative to the data root, with forward slashes. */
export interface ImageSweepReport {
  /** Files removed: images of no committed user, images no record lists, temp files of cut writes. */
  removed: string[];
  /** User folders removed whole (enrollments that never committed). */
  removedFolders: string[];
  /** Left as they were, and why (a record that cannot be read cannot say what is committed). */
  untouched: { path: string; reason: string }[];
}

export interface ImageInfo {
  cameraId?: string | null;
  qualityScore?: number | null;
  /** Defaults to now. */
  createdAt?: Date;
}

export interface UnknownImage {
  /** YYYY-MM-DD (UTC). */
  date: string;
  file: string;
  /** Relative to the data root, with forward slashes (portable in events and JSON). */
  relativePath: string;
}

export interface CorruptedImage {
  userId: string;
  kind: ImageKind;
  file: string;
  reason: string;
}

export interface UserImageScan {
  ok: StoredImage[];
  corrupted: CorruptedImage[];
}

export interface ImageStore {
  /** Saves an uploaded original (JPEG, PNG or WebP bytes) as the user's next img_NNN.{jpg|png|webp}. */
  saveOriginal(userId: string, bytes: Uint8Array, info?: ImageInfo): Promise<StoredImage>;
  /** Saves an aligned crop (PNG bytes) as the user's next face_NNN.png. */
  saveAligned(userId: string, png: Uint8Array, info?: ImageInfo): Promise<StoredImage>;
  /** Reads one image, verified against its recorded sha256; throws CorruptedImageError when it differs. */
  readUserImage(userId: string, kind: ImageKind, file: string): Promise<Buffer>;
  /** Every recorded image of a user, each verified: corrupted ones are reported (logged, counted) and listed apart, never thrown. */
  scanUser(userId: string): Promise<UserImageScan>;
  readMetadata(userId: string): Promise<UserImageMetadata | null>;
  listUsers(): Promise<string[]>;
  /** Removes some of a user's aligned crops and their records (undoing faces added to a gallery that could not be committed). */
  removeAligned(userId: string, files: string[]): Promise<void>;
  /**
   * Records the user's current originals as kept after a deletion (kept_originals). Called before
   * the user's rows are deleted, so a crash in between never leaves them looking uncommitted.
   * Resolves to the originals it newly marked (for unmarkOriginalsKept).
   */
  markOriginalsKept(userId: string): Promise<string[]>;
  /** Undoes markOriginalsKept() when the database refused the deletion: `files` are no longer marked kept. */
  unmarkOriginalsKept(userId: string, files: readonly string[]): Promise<void>;
  /**
   * Removes a user's aligned crops (on user deletion, or an enrollment that failed); originals
   * recorded as kept stay unless includeOriginals (an explicit purge), other originals go.
   */
  removeUser(userId: string, options: { includeOriginals: boolean }): Promise<void>;
  /**
   * Removes what a crash left (no write may be in progress: run at start, under the data-root
   * lock, before any enrollment): folders of users not in `committedUserIds` except their kept
   * originals, files no metadata.json lists, and temp files of atomic writes.
   */
  sweepLeftovers(committedUserIds: readonly string[], options?: { dryRun?: boolean }): Promise<ImageSweepReport>;
  /** Saves an unknown face crop (PNG) under unknown/{date}/{camera}_{time}.png. */
  saveUnknown(cameraId: string, png: Uint8Array, at?: Date): Promise<UnknownImage>;
  /** Reads one unknown crop by its relativePath (as saveUnknown returned it); anything else is refused. */
  readUnknown(relativePath: string): Promise<Buffer>;
  /** Removes one unknown crop (a crop whose database row could not be written, a dismissed face); a missing file is not an error. */
  removeUnknown(relativePath: string): Promise<void>;
  listUnknownDates(): Promise<string[]>;
  /** Removes whole unknown/{date} folders older than `olderThanDays` days before `now` (UTC dates); dryRun only reports them. */
  purgeUnknown(
    olderThanDays: number,
    now?: Date,
    options?: { dryRun?: boolean },
  ): Promise<{ removedDates: string[]; removedFiles: number }>;
  /** How many corrupted images have been reported since start. */
  corruptedCount(): number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The first unknown/{date} folder retention keeps: `olderThanDays` whole UTC days before `now`'s
 * date. Folders (and database rows) of earlier dates are purged. null: the period reaches past
 * the start of the Date range, so nothing is old enough.
 */
export function retentionCutoff(olderThanDays: number, now: Date): string | null {
  const cutoff = new Date((Math.floor(now.getTime() / DAY_MS) - olderThanDays) * DAY_MS);
  // A cutoff before year 0 starts with '-' and sorts before every folder: nothing to purge either.
  if (Number.isNaN(cutoff.getTime()) || cutoff.getUTCFullYear() < 0) return null;
  return cutoff.toISOString().slice(0, 10);
}
