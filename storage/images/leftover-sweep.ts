// The start-up sweep of face images a crash left behind (issue 12: images of people who are not
// enrolled are personal data). What is committed is the database's to say, so the sweep runs only
// while it answers: in read-only mode nothing is removed and the next start tries again. Callers
// run it before anything else can write images: the service before its API and pipeline take
// work, the CLI under the data-root lock.
import type { DbStore } from '../db/db-store.js';
import { ReadOnlyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ImageStore, ImageSweepReport } from './image-store.js';

export type LeftoverSweep = ({ ran: true } & ImageSweepReport) | { ran: false; reason: string };

export async function sweepLeftoverImages(db: Pick<DbStore, 'health' | 'listUsers'>, images: ImageStore, logger: Logger): Promise<LeftoverSweep> {
  const skipped = (): LeftoverSweep => {
    const reason = 'read-only: the database is unavailable, so which enrollments committed is unknown; nothing was removed';
    logger.warn({ reason }, 'image sweep skipped');
    return { ran: false, reason };
  };
  if (!db.health().available) return skipped();
  let userIds: string[];
  try {
    userIds = (await db.listUsers()).map((user) => user.id);
  } catch (error) {
    if (error instanceof ReadOnlyError) return skipped();
    throw error;
  }
  const report = await images.sweepLeftovers(userIds);
  const { removed, removedFolders, untouched } = report;
  logger[removed.length || removedFolders.length || untouched.length ? 'warn' : 'info'](
    { removedFiles: removed.length, removedFolders: removedFolders.length, untouched: untouched.length, files: removed, folders: removedFolders, untouchedPaths: untouched },
    removed.length || removedFolders.length
      ? 'image sweep: removed what crashes left (images of no committed user, files no metadata.json lists, temp files)'
      : 'image sweep: nothing left by a crash',
  );
  return { ran: true, ...report };
}
