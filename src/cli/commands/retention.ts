// `facegate retention run`: purges unknown faces older than the retention period (the LLD's N
// days): whole date folders of crops, their database rows and embeddings, and groups left empty
// (src/unknown-faces/retention.ts). The service runs the same purge every 6 hours; this is for a
// scheduler or an operator while the service is stopped.
import { parseArgs } from 'node:util';

import { silentLogger } from '../../../storage/logger.js';
import { decisionThresholdsOf } from '../../config/config.js';
import { UnknownFaceGrouping } from '../../unknown-faces/grouping.js';
import { purgeUnknownFaces } from '../../unknown-faces/retention.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const retentionUsage = `facegate retention run [--days N] [--dry-run] [--json]
  Removes unknown faces older than N days (default: retention.unknownDays): crop folders, their
  embeddings and groups left empty. --dry-run lists them. Needs the database.`;

export async function retentionCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      days: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'run' || positionals.length !== 1) throw new UsageError('Expected "retention run"');
  // Digits only: Number("") is 0, and an unset variable in a scheduler line must not purge everything.
  if (values.days !== undefined && !/^\d{1,4}$/.test(values.days))
    throw new UsageError(`Expected --days to be a whole number of days (0-9999) but received "${values.days}"`);
  const days = values.days === undefined ? undefined : Number(values.days);
  const ctx = await openContext({ vision: false });
  try {
    const dryRun = values['dry-run'] ?? false;
    const grouping = new UnknownFaceGrouping(
      ctx.storage,
      decisionThresholdsOf(ctx.config, await ctx.siteThreshold()).match,
      silentLogger,
    );
    const result = await purgeUnknownFaces(
      { storage: ctx.storage, grouping },
      days ?? ctx.config.retention.unknownDays,
      { dryRun },
    );
    out(
      result,
      `${dryRun ? 'would remove' : 'removed'} ${result.removedDates.length} date folder(s), ${result.removedFiles} file(s), ${result.removedFaces} face record(s) and ${result.removedGroups.length} empty group(s) older than ${result.days} days${result.removedDates.length ? `: ${result.removedDates.join(', ')}` : ''}`,
    );
  } finally {
    await ctx.close();
  }
}
