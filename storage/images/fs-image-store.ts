// FsImageStore: the ImageStore on the local filesystem (NTFS first), in the LLD's layout. It holds
// two stores that share nothing but the data root and a few file helpers (image-files.ts), each
// with its own locks: the user gallery (user-gallery.ts: images/users/{user_id}/, originals,
// aligned crops, metadata.json, kept originals) and the unknown faces' date folders
// (unknown-crops.ts: images/unknown/{date}/, retention by whole folders). This class only hands
// each ImageStore method to its part; sweepLeftovers() asks both.
import type { Logger } from '../logger.js';
import type {
  ImageInfo,
  ImageKind,
  ImageStore,
  ImageSweepReport,
  StoredImage,
  UnknownImage,
  UserImageMetadata,
  UserImageScan,
} from './image-store.js';
import { UnknownCrops } from './unknown-crops.js';
import { UserGallery } from './user-gallery.js';

export { MAX_IMAGE_BYTES } from './image-files.js';

export class FsImageStore implements ImageStore {
  private readonly gallery: UserGallery;
  private readonly unknown: UnknownCrops;

  constructor(dataRoot: string, logger?: Logger) {
    this.gallery = new UserGallery(dataRoot, logger);
    this.unknown = new UnknownCrops(dataRoot);
  }

  saveOriginal(userId: string, bytes: Uint8Array, info?: ImageInfo): Promise<StoredImage> {
    return this.gallery.saveOriginal(userId, bytes, info);
  }

  saveAligned(userId: string, png: Uint8Array, info?: ImageInfo): Promise<StoredImage> {
    return this.gallery.saveAligned(userId, png, info);
  }

  readUserImage(userId: string, kind: ImageKind, file: string): Promise<Buffer> {
    return this.gallery.readUserImage(userId, kind, file);
  }

  scanUser(userId: string): Promise<UserImageScan> {
    return this.gallery.scanUser(userId);
  }

  readMetadata(userId: string): Promise<UserImageMetadata | null> {
    return this.gallery.readMetadata(userId);
  }

  listUsers(): Promise<string[]> {
    return this.gallery.listUsers();
  }

  removeAligned(userId: string, files: string[]): Promise<void> {
    return this.gallery.removeAligned(userId, files);
  }

  markOriginalsKept(userId: string): Promise<string[]> {
    return this.gallery.markOriginalsKept(userId);
  }

  unmarkOriginalsKept(userId: string, files: readonly string[]): Promise<void> {
    return this.gallery.unmarkOriginalsKept(userId, files);
  }

  removeUser(userId: string, options: { includeOriginals: boolean }): Promise<void> {
    return this.gallery.removeUser(userId, options);
  }

  /** The user folders first (what leftover-sweep.ts counts), then the date folders' temp files. */
  async sweepLeftovers(
    committedUserIds: readonly string[],
    options: { dryRun?: boolean } = {},
  ): Promise<ImageSweepReport> {
    const report = await this.gallery.sweepLeftovers(committedUserIds, options);
    report.removed.push(...(await this.unknown.sweepTempFiles(options)));
    return report;
  }

  saveUnknown(cameraId: string, png: Uint8Array, at?: Date): Promise<UnknownImage> {
    return this.unknown.saveUnknown(cameraId, png, at);
  }

  readUnknown(relativePath: string): Promise<Buffer> {
    return this.unknown.readUnknown(relativePath);
  }

  removeUnknown(relativePath: string): Promise<void> {
    return this.unknown.removeUnknown(relativePath);
  }

  listUnknownDates(): Promise<string[]> {
    return this.unknown.listUnknownDates();
  }

  purgeUnknown(
    olderThanDays: number,
    now?: Date,
    options?: { dryRun?: boolean },
  ): Promise<{ removedDates: string[]; removedFiles: number }> {
    return this.unknown.purgeUnknown(olderThanDays, now, options);
  }

  corruptedCount(): number {
    return this.gallery.corruptedCount();
  }
}
