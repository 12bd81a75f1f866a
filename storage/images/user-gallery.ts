// The user gallery on the local filesystem (NTFS first): images/users/{user_id}/ with its original/
// uploads, aligned/ crops and metadata.json, in the LLD's layout; FsImageStore's part for users.
// Every file is written whole or not at all (atomic-write.ts), image before metadata.json, so the
// record never names a file that is not complete on disk. metadata.json holds each image's sha256:
// a file truncated, overwritten or deleted behind our back is caught on read, logged and skipped.
// What a crash leaves (a file no record lists, a temp file, the folder of an enrollment that never
// committed) is removed by sweepLeftovers() at start (leftover-sweep.ts decides when it may run);
// kept_originals tells the originals a deleted user keeps (the LLD) from those of an enrollment
// that never committed.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { KeyedSerialQueue } from '../../core/serial-queue.js';
import { describeReceived, requireFolderDate } from '../checks.js';
import { CorruptedImageError, StoreInputError } from '../errors.js';
import { isTempFileName, writeFileAtomic } from '../fs/atomic-write.js';
import { validateId } from '../ids.js';
import { silentLogger, type Logger } from '../logger.js';
import { errorCode, type ImageFormat, listDir, relativeToDataRoot, requireImage, RM_OPTIONS } from './image-files.js';
import type {
  CorruptedImage,
  ImageInfo,
  ImageKind,
  ImageSweepReport,
  StoredImage,
  UserImageMetadata,
  UserImageScan,
} from './image-store.js';

const FILE_PATTERNS: Record<ImageKind, RegExp> = {
  original: /^img_(\d{3,})\.(jpg|png|webp)$/,
  aligned: /^face_(\d{3,})\.png$/,
};
const FILE_EXAMPLES: Record<ImageKind, string> = { original: 'img_001.jpg', aligned: 'face_001.png' };
const KINDS: readonly ImageKind[] = ['original', 'aligned'];
const METADATA = 'metadata.json';

const storedImageSchema = z
  .object({
    kind: z.enum(['original', 'aligned']),
    file: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().nonnegative(),
    createdAt: z.string(),
    cameraId: z.string().nullable(),
    qualityScore: z.number().nullable(),
  })
  // A recorded name becomes a path on read: one that does not fit its kind ("../x") makes the whole record untrusted.
  .refine((image) => FILE_PATTERNS[image.kind].test(image.file), { message: 'file name does not fit its kind' });

const metadataSchema = z.object({
  created_at: z.string(),
  camera_id: z.string().nullable(),
  quality_score: z.number().nullable(),
  images: z.array(storedImageSchema),
  kept_originals: z.array(z.string()).optional(),
});

type MetadataState =
  { state: 'missing' } | { state: 'ok'; metadata: UserImageMetadata } | { state: 'unreadable'; reason: string };

type Verification = { ok: true; data: Buffer } | { ok: false; reason: string };

/** The record a write starts from: its images, and the originals kept after a deletion. */
interface WritableRecord {
  images: StoredImage[];
  kept: string[];
}

/** The user folders of one data root; FsImageStore hands its user methods here. */
export class UserGallery {
  private readonly dataRoot: string;
  private readonly usersDir: string;
  // One write at a time per user folder: two saves never pick the same number nor write
  // metadata.json from the same stale copy.
  private readonly userLocks = new KeyedSerialQueue();
  private corruptedReports = 0;

  constructor(
    dataRoot: string,
    private readonly logger: Logger = silentLogger,
  ) {
    this.dataRoot = path.resolve(dataRoot);
    this.usersDir = path.join(this.dataRoot, 'images', 'users');
  }

  async saveOriginal(userId: string, bytes: Uint8Array, info: ImageInfo = {}): Promise<StoredImage> {
    validateId('user', userId);
    const format = requireImage(bytes, ['jpg', 'png', 'webp'], 'an original image');
    const details = imageDetails(info);
    return await this.withUser(userId, () => this.addImage(userId, 'original', format, bytes, details));
  }

  async saveAligned(userId: string, png: Uint8Array, info: ImageInfo = {}): Promise<StoredImage> {
    validateId('user', userId);
    requireImage(png, ['png'], 'an aligned face crop');
    const details = imageDetails(info);
    return await this.withUser(userId, () => this.addImage(userId, 'aligned', 'png', png, details));
  }

  async readUserImage(userId: string, kind: ImageKind, file: string): Promise<Buffer> {
    validateId('user', userId);
    requireKind(kind);
    requireFileName(kind, file);
    return await this.withUser(userId, async () => {
      const loaded = await this.loadMetadata(userId);
      if (loaded.state === 'unreadable') {
        this.reportMetadata(userId, loaded.reason, 'its images are not trusted until the next save rebuilds it');
        throw new CorruptedImageError(
          `Cannot verify ${kind}/${file} of user ${userId}: metadata.json unreadable (${loaded.reason})`,
        );
      }
      const image =
        loaded.state === 'ok' ? loaded.metadata.images.find((i) => i.kind === kind && i.file === file) : undefined;
      if (image === undefined) {
        throw new StoreInputError(
          `Expected an ${kind} image recorded in metadata.json of user ${userId} ` +
            `but received ${JSON.stringify(file)}, which is not recorded`,
        );
      }
      const result = await this.verify(userId, image);
      if (!result.ok) {
        this.reportImage({ userId, kind, file, reason: result.reason });
        throw new CorruptedImageError(`Image ${kind}/${file} of user ${userId} is corrupted: ${result.reason}`);
      }
      return result.data;
    });
  }

  async scanUser(userId: string): Promise<UserImageScan> {
    validateId('user', userId);
    return await this.withUser(userId, async () => {
      const loaded = await this.loadMetadata(userId);
      if (loaded.state === 'missing') return { ok: [], corrupted: [] };
      if (loaded.state === 'unreadable') {
        this.reportMetadata(userId, loaded.reason, 'its images are not trusted until the next save rebuilds it');
        const corrupted: CorruptedImage[] = [];
        for (const kind of KINDS) {
          for (const file of await this.imageFilesOnDisk(userId, kind)) {
            corrupted.push({ userId, kind, file, reason: 'metadata.json unreadable' });
          }
        }
        return { ok: [], corrupted };
      }
      const scan: UserImageScan = { ok: [], corrupted: [] };
      for (const image of loaded.metadata.images) {
        const result = await this.verify(userId, image);
        if (result.ok) {
          scan.ok.push(image);
        } else {
          const corrupted = { userId, kind: image.kind, file: image.file, reason: result.reason };
          this.reportImage(corrupted);
          scan.corrupted.push(corrupted);
        }
      }
      return scan;
    });
  }

  async readMetadata(userId: string): Promise<UserImageMetadata | null> {
    validateId('user', userId);
    return await this.withUser(userId, async () => {
      const loaded = await this.loadMetadata(userId);
      if (loaded.state === 'missing') return null;
      if (loaded.state === 'ok') return loaded.metadata;
      this.reportMetadata(userId, loaded.reason, 'its images are not trusted until the next save rebuilds it');
      throw new CorruptedImageError(`metadata.json of user ${userId} is unreadable: ${loaded.reason}`);
    });
  }

  async listUsers(): Promise<string[]> {
    const entries = await listDir(this.usersDir);
    return entries
      .filter((entry) => entry.isDirectory() && isValidId('user', entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  async removeUser(userId: string, options: { includeOriginals: boolean }): Promise<void> {
    validateId('user', userId);
    const includeOriginals: unknown = (options as { includeOriginals?: unknown } | undefined)?.includeOriginals;
    if (typeof includeOriginals !== 'boolean') {
      throw new StoreInputError(
        `Expected options.includeOriginals to be true or false but received ${describeReceived(includeOriginals)}`,
      );
    }
    await this.withUser(userId, async () => {
      const userDir = this.userDir(userId);
      if (includeOriginals) {
        await fs.rm(userDir, RM_OPTIONS);
        return;
      }
      // Files first, record second: a crash in between leaves entries that scan as "missing"
      // (visible, retried by the next removeUser or the sweep), never a deleted user's faces left
      // on disk unlisted. Originals not recorded as kept belong to no committed enrollment.
      await fs.rm(this.kindDir(userId, 'aligned'), RM_OPTIONS);
      const { images, kept } = await this.imagesForWrite(userId);
      const stays = images.filter((image) => image.kind === 'original' && kept.includes(image.file));
      for (const image of images) {
        if (image.kind === 'original' && !stays.includes(image))
          await fs.rm(path.join(this.kindDir(userId, 'original'), image.file), RM_OPTIONS);
      }
      await this.writeMetadata(userId, stays, kept);
      try {
        // Only succeeds when nothing is left (no original/): a user who never had an upload disappears.
        await fs.rmdir(userDir);
      } catch (error) {
        // Still holding original/ (ENOTEMPTY, EEXIST on some systems), already gone, or held open by
        // Explorer on Windows: an empty folder left behind is harmless.
        if (!['ENOTEMPTY', 'EEXIST', 'ENOENT', 'EBUSY', 'EPERM'].includes(errorCode(error))) throw error;
      }
    });
  }

  async markOriginalsKept(userId: string): Promise<string[]> {
    validateId('user', userId);
    return this.withUser(userId, async () => {
      if ((await this.loadMetadata(userId)).state === 'missing') return [];
      const { images, kept } = await this.imagesForWrite(userId);
      const originals = images.filter((image) => image.kind === 'original').map((image) => image.file);
      await this.writeMetadata(userId, images, originals);
      return originals.filter((file) => !kept.includes(file));
    });
  }

  async unmarkOriginalsKept(userId: string, files: readonly string[]): Promise<void> {
    validateId('user', userId);
    if (files.length === 0) return;
    await this.withUser(userId, async () => {
      const loaded = await this.loadMetadata(userId);
      // Nothing to undo in a record that is gone, and an unreadable one is not rewritten from a guess.
      if (loaded.state !== 'ok') return;
      const { images, kept_originals: kept } = loaded.metadata;
      await this.writeMetadata(
        userId,
        images,
        kept.filter((file) => !files.includes(file)),
      );
    });
  }

  async removeAligned(userId: string, files: string[]): Promise<void> {
    validateId('user', userId);
    for (const file of files) requireFileName('aligned', file);
    if (files.length === 0) return;
    await this.withUser(userId, async () => {
      // Record first, files second: a crash in between leaves unlisted files (never loaded as the
      // user's), not a record naming files that are gone.
      const gone = new Set(files);
      const { images, kept } = await this.imagesForWrite(userId);
      await this.writeMetadata(
        userId,
        images.filter((image) => !(image.kind === 'aligned' && gone.has(image.file))),
        kept,
      );
      for (const file of files) await fs.rm(path.join(this.kindDir(userId, 'aligned'), file), RM_OPTIONS);
    });
  }

  /** The user folders' part of ImageStore.sweepLeftovers (see there). */
  async sweepLeftovers(
    committedUserIds: readonly string[],
    options: { dryRun?: boolean } = {},
  ): Promise<ImageSweepReport> {
    // Lower case: on NTFS "U1" and "u1" are one folder, and user ids are unique regardless of case.
    const committed = new Set(committedUserIds.map((id) => id.toLowerCase()));
    const report: ImageSweepReport = { removed: [], removedFolders: [], untouched: [] };
    const relative = (full: string) => relativeToDataRoot(this.dataRoot, full);
    const dryRun = options.dryRun ?? false;
    const remove = async (full: string) => {
      if (!dryRun) await fs.rm(full, RM_OPTIONS);
      report.removed.push(relative(full));
    };
    const removeFolder = async (full: string) => {
      if ((await listDir(full)).length > 0) report.removedFolders.push(relative(full));
      if (!dryRun) await fs.rm(full, RM_OPTIONS);
    };
    const rewrite = (userId: string, images: StoredImage[], kept: string[]) =>
      dryRun ? Promise.resolve() : this.writeMetadata(userId, images, kept);
    for (const entry of await listDir(this.usersDir)) {
      const full = path.join(this.usersDir, entry.name);
      if (!entry.isDirectory()) {
        if (isTempFileName(entry.name)) await remove(full);
        continue;
      }
      // Not a folder this store makes (an invalid id): not ours to judge.
      if (!isValidId('user', entry.name)) continue;
      await this.withUser(entry.name, () =>
        this.sweepUser(entry.name, committed.has(entry.name.toLowerCase()), report, {
          remove,
          removeFolder,
          rewrite,
          relative,
        }),
      );
    }
    return report;
  }

  private async sweepUser(
    userId: string,
    committed: boolean,
    report: ImageSweepReport,
    act: {
      remove: (full: string) => Promise<void>;
      removeFolder: (full: string) => Promise<void>;
      rewrite: (userId: string, images: StoredImage[], kept: string[]) => Promise<void>;
      relative: (full: string) => string;
    },
  ): Promise<void> {
    const { remove, relative } = act;
    const userDir = this.userDir(userId);
    // Temp files of writes a crash cut short: never data.
    for (const dir of [userDir, this.kindDir(userId, 'original'), this.kindDir(userId, 'aligned')]) {
      for (const entry of await listDir(dir))
        if (entry.isFile() && isTempFileName(entry.name)) await remove(path.join(dir, entry.name));
    }
    const loaded = await this.loadMetadata(userId);
    if (loaded.state === 'unreadable') {
      report.untouched.push({
        path: relative(userDir),
        reason: `metadata.json unreadable (${loaded.reason}): cannot tell what is committed`,
      });
      return;
    }
    if (loaded.state === 'missing') {
      if (committed) {
        // Every committed enrollment writes its record first: a missing one was removed by hand.
        const files = [
          ...(await this.imageFilesOnDisk(userId, 'original')),
          ...(await this.imageFilesOnDisk(userId, 'aligned')),
        ];
        if (files.length)
          report.untouched.push({
            path: relative(userDir),
            reason: 'an enrolled user without metadata.json: images kept',
          });
        return;
      }
      // An enrollment cut before its first record: nothing here was ever committed.
      await act.removeFolder(userDir);
      return;
    }
    const { images, kept_originals: kept } = loaded.metadata;
    // A committed user keeps what the record lists; without a user row only the kept originals stay.
    const stays = committed ? images : images.filter((image) => image.kind === 'original' && kept.includes(image.file));
    if (stays.length === 0) {
      await act.removeFolder(userDir);
      return;
    }
    for (const kind of KINDS) {
      for (const file of await this.imageFilesOnDisk(userId, kind)) {
        if (!stays.some((image) => image.kind === kind && image.file === file))
          await remove(path.join(this.kindDir(userId, kind), file));
      }
    }
    if (stays.length !== images.length) await act.rewrite(userId, stays, kept);
  }

  corruptedCount(): number {
    return this.corruptedReports;
  }

  private withUser<T>(userId: string, task: () => Promise<T>): Promise<T> {
    // Keyed in lower case: on NTFS "U1" and "u1" are one folder, so they must share one queue.
    return this.userLocks.run(userId.toLowerCase(), task);
  }

  private userDir(userId: string): string {
    return path.join(this.usersDir, userId);
  }

  private kindDir(userId: string, kind: ImageKind): string {
    return path.join(this.userDir(userId), kind);
  }

  private async addImage(
    userId: string,
    kind: ImageKind,
    format: ImageFormat,
    bytes: Uint8Array,
    details: Pick<StoredImage, 'createdAt' | 'cameraId' | 'qualityScore'>,
  ): Promise<StoredImage> {
    const { images, kept } = await this.imagesForWrite(userId);
    const dir = this.kindDir(userId, kind);
    const number = String(await this.nextNumber(userId, kind, images)).padStart(3, '0');
    const file = kind === 'original' ? `img_${number}.${format}` : `face_${number}.png`;
    await writeFileAtomic(path.join(dir, file), bytes);
    const image: StoredImage = { kind, file, sha256: sha256(bytes), bytes: bytes.length, ...details };
    await this.writeMetadata(userId, [...images, image], kept);
    return image;
  }

  /** Past the highest number on disk or in the record, so a name is never reused while anything may still refer to it. */
  private async nextNumber(userId: string, kind: ImageKind, recorded: readonly StoredImage[]): Promise<number> {
    const names = (await listDir(this.kindDir(userId, kind))).map((entry) => entry.name);
    names.push(...recorded.filter((image) => image.kind === kind).map((image) => image.file));
    let highest = 0;
    for (const name of names) {
      const match = FILE_PATTERNS[kind].exec(name);
      if (match?.[1] !== undefined) highest = Math.max(highest, Number(match[1]));
    }
    return highest + 1;
  }

  /**
   * The images a write starts from. An unreadable metadata.json can no longer vouch for any file,
   * so it is rebuilt from the files actually on disk, each hashed afresh (camera and quality are
   * lost: only the record had them). That trusts the bytes present now; the alternative, refusing
   * every save until someone repairs the file by hand, would stop enrollment on a site with no
   * operator. Until that save, reads and scans report these images as corrupted. Every original
   * found then counts as kept: the record that could have said otherwise is lost, and the LLD
   * never deletes originals.
   */
  private async imagesForWrite(userId: string): Promise<WritableRecord> {
    const loaded = await this.loadMetadata(userId);
    if (loaded.state === 'missing') return { images: [], kept: [] };
    if (loaded.state === 'ok') return { images: loaded.metadata.images, kept: loaded.metadata.kept_originals };
    this.reportMetadata(userId, loaded.reason, 'rebuilding it from the images on disk');
    const images: StoredImage[] = [];
    for (const kind of KINDS) {
      for (const file of await this.imageFilesOnDisk(userId, kind)) {
        const target = path.join(this.kindDir(userId, kind), file);
        const [data, stat] = await Promise.all([fs.readFile(target), fs.stat(target)]);
        images.push({
          kind,
          file,
          sha256: sha256(data),
          bytes: data.length,
          createdAt: stat.mtime.toISOString(),
          cameraId: null,
          qualityScore: null,
        });
      }
    }
    return { images, kept: images.filter((image) => image.kind === 'original').map((image) => image.file) };
  }

  /**
   * The LLD's three keys describe the most recently saved image; with no image left there is no
   * record. kept_originals is always written (only names still recorded): its absence marks a
   * record from before it existed.
   */
  private async writeMetadata(userId: string, images: StoredImage[], kept: readonly string[]): Promise<void> {
    const target = path.join(this.userDir(userId), METADATA);
    const latest = images.at(-1);
    if (latest === undefined) {
      await fs.rm(target, { force: true });
      return;
    }
    const metadata: UserImageMetadata = {
      created_at: latest.createdAt,
      camera_id: latest.cameraId,
      quality_score: latest.qualityScore,
      images,
      kept_originals: images
        .filter((image) => image.kind === 'original' && kept.includes(image.file))
        .map((image) => image.file),
    };
    await writeFileAtomic(target, `${JSON.stringify(metadata, null, 2)}\n`);
  }

  private async loadMetadata(userId: string): Promise<MetadataState> {
    let text: string;
    try {
      text = await fs.readFile(path.join(this.userDir(userId), METADATA), 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { state: 'missing' };
      return { state: 'unreadable', reason: `cannot be read (${errorCode(error) || String(error)})` };
    }
    let json: unknown;
    try {
      // Notepad on Windows saves UTF-8 with a byte-order mark, which JSON.parse refuses.
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (error) {
      return { state: 'unreadable', reason: `not JSON (${(error as Error).message})` };
    }
    const parsed = metadataSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
      return { state: 'unreadable', reason: `wrong shape (${where}${issue?.message ?? 'invalid'})` };
    }
    const { kept_originals: kept, ...metadata } = parsed.data;
    // A record from before kept_originals: its user could only have been deleted with every original kept.
    const legacy = metadata.images.filter((image) => image.kind === 'original').map((image) => image.file);
    return { state: 'ok', metadata: { ...metadata, kept_originals: kept ?? legacy } };
  }

  private async verify(userId: string, image: StoredImage): Promise<Verification> {
    let data: Buffer;
    try {
      data = await fs.readFile(path.join(this.kindDir(userId, image.kind), image.file));
    } catch (error) {
      const code = errorCode(error);
      return { ok: false, reason: code === 'ENOENT' ? 'missing' : `unreadable (${code || String(error)})` };
    }
    if (data.length < image.bytes) return { ok: false, reason: `truncated: ${data.length} of ${image.bytes} bytes` };
    if (data.length > image.bytes) {
      return { ok: false, reason: `size changed: ${data.length} bytes, ${image.bytes} recorded` };
    }
    const digest = sha256(data);
    if (digest !== image.sha256) {
      return { ok: false, reason: `sha256 mismatch: ${digest}, ${image.sha256} recorded` };
    }
    return { ok: true, data };
  }

  /** Image files of one kind as named by this store; temp files and strays (Thumbs.db, desktop.ini) are not images. */
  private async imageFilesOnDisk(userId: string, kind: ImageKind): Promise<string[]> {
    const entries = await listDir(this.kindDir(userId, kind));
    return entries
      .filter((entry) => entry.isFile() && FILE_PATTERNS[kind].test(entry.name))
      .map((entry) => entry.name)
      .sort((a, b) => fileNumber(kind, a) - fileNumber(kind, b));
  }

  private reportImage(image: CorruptedImage): void {
    this.corruptedReports++;
    this.logger.warn(image, 'corrupted image skipped');
  }

  /** Counted like a corrupted image: a record that cannot be read is a corruption, not an absence. */
  private reportMetadata(userId: string, reason: string, consequence: string): void {
    this.corruptedReports++;
    this.logger.warn({ userId, file: METADATA, reason }, `metadata.json unreadable: ${consequence}`);
  }
}

function imageDetails(info: ImageInfo): Pick<StoredImage, 'createdAt' | 'cameraId' | 'qualityScore'> {
  const cameraId = info.cameraId === undefined || info.cameraId === null ? null : validateId('camera', info.cameraId);
  const qualityScore = info.qualityScore ?? null;
  if (qualityScore !== null && !(typeof qualityScore === 'number' && qualityScore >= 0 && qualityScore <= 1)) {
    throw new StoreInputError(
      `Expected qualityScore between 0 and 1 (or null) but received ${describeReceived(qualityScore)}`,
    );
  }
  const createdAt = requireFolderDate('createdAt', info.createdAt ?? new Date()).toISOString();
  return { createdAt, cameraId, qualityScore };
}

function requireKind(kind: ImageKind): void {
  if (!KINDS.includes(kind)) {
    throw new StoreInputError(`Expected kind "original" or "aligned" but received ${describeReceived(kind)}`);
  }
}

/** Only names this store makes: no separator, no "..", nothing that could leave the kind's folder. */
function requireFileName(kind: ImageKind, file: string): void {
  if (typeof file !== 'string' || !FILE_PATTERNS[kind].test(file)) {
    throw new StoreInputError(
      `Expected an ${kind} file name like ${FILE_EXAMPLES[kind]} but received ${describeReceived(file)}`,
    );
  }
}

function fileNumber(kind: ImageKind, file: string): number {
  return Number(FILE_PATTERNS[kind].exec(file)?.[1] ?? 0);
}

function isValidId(kind: 'user' | 'camera', name: string): boolean {
  try {
    validateId(kind, name);
    return true;
  } catch {
    return false;
  }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
