// Retention of unknown faces (the LLD's N days): the crops of days before the cutoff and their
// database rows (event links, embeddings) go in the same purge, and groups left without a face
// go with them. The rows go first, in one transaction, then the date folders: a crash between
// the two leaves only files of purged days, which the next purge removes. While the database is
// down nothing is purged (ReadOnlyError): crops and their embeddings are never parted.
// Enrolled and assigned faces are not lost: their crops were copied into the user's images.
import { StoreInputError } from '../../storage/errors.js';
import { retentionCutoff } from '../../storage/images/image-store.js';
import type { Storage } from '../../storage/index.js';
import type { UnknownFaceGrouping } from './grouping.js';

export interface PurgeResult {
  days: number;
  /** The first day kept (YYYY-MM-DD, UTC); null: nothing is old enough. */
  cutoff: string | null;
  dryRun: boolean;
  removedDates: string[];
  removedFiles: number;
  removedFaces: number;
  removedGroups: bigint[];
}

export async function purgeUnknownFaces(
  deps: { storage: Storage; grouping: UnknownFaceGrouping },
  days: number,
  options: { now?: Date; dryRun?: boolean } = {},
): Promise<PurgeResult> {
  if (!Number.isInteger(days) || days < 0)
    throw new StoreInputError(`Expected retention days to be an integer >= 0 but received ${String(days)}`);
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const cutoff = retentionCutoff(days, now);
  if (cutoff === null)
    return { days, cutoff, dryRun, removedDates: [], removedFiles: 0, removedFaces: 0, removedGroups: [] };
  // The rows and the grouping index change together; the folders (slow on a large disk) are
  // removed after, outside the grouping's turn: new faces only ever go to today's folder.
  const rows = await deps.grouping.run(async () => {
    const deleted = await deps.storage.db.unknown.deleteFacesBefore(cutoff, { dryRun });
    if (!dryRun) deps.grouping.forget(deleted.removed.map((r) => r.id));
    return deleted;
  });
  const files = await deps.storage.images.purgeUnknown(days, now, { dryRun });
  return { days, cutoff, dryRun, ...files, removedFaces: rows.removed.length, removedGroups: rows.removedGroups };
}
