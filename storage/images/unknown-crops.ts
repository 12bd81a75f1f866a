// The unknown faces' date folders on the local filesystem: images/unknown/{YYYY-MM-DD}/ holding
// the PNG crops of faces no one was matched to, named {camera}_{HHmmssSSS}.png (UTC; no ':', which
// NTFS refuses), and their retention, which removes whole date folders. FsImageStore's part for
// unknown faces; the database rows that point at these crops are src/unknown-faces/'s to keep.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { KeyedSerialQueue } from '../../core/serial-queue.js';
import { describeReceived, requireFolderDate } from '../checks.js';
import { isCalendarDate } from '../dates.js';
import { StoreInputError } from '../errors.js';
import { isTempFileName, writeFileAtomic } from '../fs/atomic-write.js';
import { validateId } from '../ids.js';
import { listDir, relativeToDataRoot, requireImage, RM_OPTIONS } from './image-files.js';
import type { UnknownImage } from './image-store.js';
import { retentionCutoff } from './image-store.js';

/** The unknown/{date} folders of one data root; FsImageStore hands its unknown-face methods here. */
export class UnknownCrops {
  private readonly dataRoot: string;
  private readonly unknownDir: string;
  // One write at a time per date folder: two saves in the same millisecond never pick the same name.
  private readonly unknownLocks = new KeyedSerialQueue();

  constructor(dataRoot: string) {
    this.dataRoot = path.resolve(dataRoot);
    this.unknownDir = path.join(this.dataRoot, 'images', 'unknown');
  }

  async saveUnknown(cameraId: string, png: Uint8Array, at: Date = new Date()): Promise<UnknownImage> {
    validateId('camera', cameraId);
    requireImage(png, ['png'], 'an unknown face crop');
    const iso = requireFolderDate('at', at).toISOString();
    const date = iso.slice(0, 10);
    // HHmmssSSS in UTC: ':' is illegal in NTFS file names.
    const stamp = iso.slice(11, 23).replace(/[:.]/g, '');
    return await this.unknownLocks.run(date, async () => {
      const dir = path.join(this.unknownDir, date);
      // Lower case: NTFS treats "Cam1_..." and "cam1_..." as one file, and a rename would replace it.
      const taken = new Set((await listDir(dir)).map((entry) => entry.name.toLowerCase()));
      const base = `${cameraId}_${stamp}`;
      let file = `${base}.png`;
      for (let n = 2; taken.has(file.toLowerCase()); n++) file = `${base}_${n}.png`;
      await writeFileAtomic(path.join(dir, file), png);
      return { date, file, relativePath: ['images', 'unknown', date, file].join('/') };
    });
  }

  async readUnknown(relativePath: string): Promise<Buffer> {
    const { date, file } = unknownPath(relativePath);
    return await fs.readFile(path.join(this.unknownDir, date, file));
  }

  async removeUnknown(relativePath: string): Promise<void> {
    const { date, file } = unknownPath(relativePath);
    await this.unknownLocks.run(date, () => fs.rm(path.join(this.unknownDir, date, file), RM_OPTIONS));
  }

  async listUnknownDates(): Promise<string[]> {
    const entries = await listDir(this.unknownDir);
    return entries
      .filter((entry) => entry.isDirectory() && isCalendarDate(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  async purgeUnknown(
    olderThanDays: number,
    now: Date = new Date(),
    options: { dryRun?: boolean } = {},
  ): Promise<{ removedDates: string[]; removedFiles: number }> {
    if (!Number.isInteger(olderThanDays) || olderThanDays < 0) {
      throw new StoreInputError(
        `Expected olderThanDays to be an integer >= 0 but received ${describeReceived(olderThanDays)}`,
      );
    }
    requireFolderDate('now', now);
    const cutoff = retentionCutoff(olderThanDays, now);
    if (cutoff === null) return { removedDates: [], removedFiles: 0 };
    const removedDates: string[] = [];
    let removedFiles = 0;
    for (const date of await this.listUnknownDates()) {
      if (date >= cutoff) continue;
      await this.unknownLocks.run(date, async () => {
        const dir = path.join(this.unknownDir, date);
        removedFiles += (await listDir(dir)).filter((entry) => entry.isFile() && !isTempFileName(entry.name)).length;
        if (!options.dryRun) await fs.rm(dir, RM_OPTIONS);
      });
      removedDates.push(date);
    }
    return { removedDates, removedFiles };
  }

  /**
   * The date folders' part of ImageStore.sweepLeftovers: temp files of writes a crash cut short
   * (never data); the crops themselves are retention's to remove. Resolves to what it removed (or,
   * with dryRun, would remove), relative to the data root.
   */
  async sweepTempFiles(options: { dryRun?: boolean } = {}): Promise<string[]> {
    const removed: string[] = [];
    for (const date of await listDir(this.unknownDir)) {
      if (!date.isDirectory()) continue;
      await this.unknownLocks.run(date.name, async () => {
        const dir = path.join(this.unknownDir, date.name);
        for (const file of await listDir(dir)) {
          if (!file.isFile() || !isTempFileName(file.name)) continue;
          const full = path.join(dir, file.name);
          if (!options.dryRun) await fs.rm(full, RM_OPTIONS);
          removed.push(relativeToDataRoot(this.dataRoot, full));
        }
      });
    }
    return removed;
  }
}

const UNKNOWN_PATH = /^images\/unknown\/(\d{4}-\d{2}-\d{2})\/([A-Za-z0-9_-][A-Za-z0-9._-]*\.png)$/;

/** images/unknown/{date}/{file}.png, as saveUnknown makes them: nothing else becomes a path. */
function unknownPath(relativePath: string): { date: string; file: string } {
  const match = typeof relativePath === 'string' ? UNKNOWN_PATH.exec(relativePath) : null;
  if (!match || !isCalendarDate(match[1] as string) || relativePath.includes('..')) {
    throw new StoreInputError(
      `Expected an unknown crop path images/unknown/YYYY-MM-DD/<name>.png but received ${describeReceived(relativePath)}`,
    );
  }
  return { date: match[1] as string, file: match[2] as string };
}
