// `facegate retention run`: purges unknown-face crops older than the retention period (whole date
// folders, the LLD's N days). The service runs the same purge every 6 hours; this is for a
// scheduler or an operator while the service is stopped.
import { parseArgs } from 'node:util';

import { loadConfig } from '../../config/config.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const retentionUsage = `facegate retention run [--days N] [--dry-run] [--json]
  Removes unknown-face folders older than N days (default: retention.unknownDays); --dry-run lists them.`;

export async function retentionCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { days: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  if (positionals[0] !== 'run' || positionals.length !== 1) throw new UsageError('Expected "retention run"');
  const days = values.days === undefined ? (await loadConfig()).retention.unknownDays : Number(values.days);
  if (!Number.isInteger(days) || days < 0) throw new UsageError(`Expected --days to be an integer >= 0 but received "${values.days}"`);
  const ctx = await openContext({ vision: false });
  try {
    const dryRun = values['dry-run'] ?? false;
    const result = await ctx.storage.images.purgeUnknown(days, new Date(), { dryRun });
    out(
      { days, dryRun, ...result },
      `${dryRun ? 'would remove' : 'removed'} ${result.removedDates.length} date folder(s), ${result.removedFiles} file(s) older than ${days} days${result.removedDates.length ? `: ${result.removedDates.join(', ')}` : ''}`,
    );
  } finally {
    await ctx.close();
  }
}
