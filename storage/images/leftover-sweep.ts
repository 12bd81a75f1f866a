// The start-up sweep of face images a crash left behind (issue 12: images of people who are not
// enrolled are personal data). What is committed is the database's to say, so the sweep runs only
// while it answers: in read-only mode nothing is removed and the next start tries again. Callers
// run it before anything else can write images: the service before its API and pipeline take
// work, the CLI under the data-root lock.
import path from 'node:path';

import type { DbStore } from '../db/db-store.js';
import { ReadOnlyError } from '../errors.js';
import { isTempFileName } from '../fs/atomic-write.js';
import type { Logger } from '../logger.js';
import type { ImageStore, ImageSweepReport } from './image-store.js';

export type LeftoverSweep = ({ ran: true } & ImageSweepReport) | { ran: false; reason: string };

/**
 * How many users' folders the database may not know before the sweep stops believing it. One
 * enrollment writes images at a time (its writes run under the gallery lock), so a crash leaves at
 * most one uncommitted user's folder, and two crashes in a row with the database away two. More
 * means this database is not the data root's own (an empty or mistyped DATABASE_URL, a restored or
 * lost PGlite folder): removing them would erase enrolled people's faces, so nothing is removed and
 * the log says why.
 */
export const MAX_UNCOMMITTED_FOLDERS = 2;

export async function sweepLeftoverImages(
  db: Pick<DbStore, 'health' | 'listUsers'>,
  images: ImageStore,
  logger: Logger,
): Promise<LeftoverSweep> {
  const skipped = (): LeftoverSweep => {
    const reason =
      'read-only: the database is unavailable, so which enrollments committed is unknown; nothing was removed';
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
  const planned = await images.sweepLeftovers(userIds, { dryRun: true });
  const committed = new Set(userIds.map((id) => id.toLowerCase()));
  const userOf = (relativePath: string) => relativePath.split('/')[2] ?? '';
  const losing = new Set(
    [...planned.removedFolders, ...planned.removed.filter((p) => !isTempFileName(path.posix.basename(p)))]
      .map(userOf)
      .filter((id) => id !== '' && !committed.has(id.toLowerCase())),
  );
  if (losing.size > MAX_UNCOMMITTED_FOLDERS) {
    const reason =
      `the database knows none of the ${losing.size} users with images here (${[...losing].slice(0, 5).join(', ')}${losing.size > 5 ? ', ...' : ''}): ` +
      `more than a crash leaves (at most ${MAX_UNCOMMITTED_FOLDERS}); is this the data root's own database? Nothing was removed`;
    logger.error({ reason, users: [...losing] }, 'image sweep refused');
    return { ran: false, reason };
  }
  const report = await images.sweepLeftovers(userIds);
  const { removed, removedFolders, untouched } = report;
  logger[removed.length || removedFolders.length || untouched.length ? 'warn' : 'info'](
    {
      removedFiles: removed.length,
      removedFolders: removedFolders.length,
      untouched: untouched.length,
      files: removed,
      folders: removedFolders,
      untouchedPaths: untouched,
    },
    removed.length || removedFolders.length
      ? 'image sweep: removed what crashes left (images of no committed user, files no metadata.json lists, temp files)'
      : 'image sweep: nothing left by a crash',
  );
  return { ran: true, ...report };
}
