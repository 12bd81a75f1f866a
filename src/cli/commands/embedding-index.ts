// `facegate index stats|verify|rebuild`: the embedding index's maintenance. `stats` says what it
// holds, where it came from, and its memory; `verify` compares it with the database (rebuilding on
// a difference) and also sweeps the face images crashes left (under the data-root lock the CLI
// holds); `rebuild` rebuilds it from the database.
import { parseArgs } from 'node:util';

import { type LeftoverSweep, sweepLeftoverImages } from '../../../storage/index.js';
import { silentLogger } from '../../../storage/logger.js';

import { openContext } from '../context.js';
import { progress } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const indexUsage = `facegate index stats|verify|rebuild [--json]
  stats: the embedding index's model, vectors, users, snapshot generation, verification against
  the database, search mode and memory (fp32 vectors and the fp16 copy). verify: compares the
  index and its id map with face_embeddings and rebuilds on any difference, then removes face
  images that belong to no committed user (what a crash left; not while the database is down).
  rebuild: from the database.`;

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function sweepText(sweep: LeftoverSweep): string {
  if (!sweep.ran) return `images: not swept (${sweep.reason})`;
  const lines = [
    `images: removed ${sweep.removed.length} file(s) and ${sweep.removedFolders.length} folder(s) that belong to no committed user` +
      (sweep.untouched.length ? `; ${sweep.untouched.length} folder(s) left untouched` : ''),
    ...sweep.removedFolders.map((p) => `  removed folder ${p}`),
    ...sweep.removed.map((p) => `  removed ${p}`),
    ...sweep.untouched.map((u) => `  untouched ${u.path}: ${u.reason}`),
  ];
  return lines.join('\n');
}

export async function indexCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  const [action, ...extra] = positionals;
  if (!action || !['stats', 'verify', 'rebuild'].includes(action) || extra.length)
    throw new UsageError('Expected "index stats|verify|rebuild"');
  // verify and rebuild read every embedding (opening the index may rebuild it already): seconds
  // counted on a terminal, as the storage layer reports no count along the way.
  const bar = action === 'stats' ? null : progress(`index ${action}`, { total: null, json: values.json });
  bar?.update(0, 'opening the index');
  const ctx = await openContext({ vision: false }).catch((error: unknown) => {
    bar?.end();
    throw error;
  });
  bar?.update(0, action === 'rebuild' ? 'rebuilding from the database' : 'verifying');
  try {
    const { embeddings } = ctx.storage;
    if (action === 'verify') {
      // Opening already verified it against the database; this says what was found.
      const before = embeddings.stats();
      const result = await embeddings.verify();
      const after = embeddings.stats();
      const rebuiltAtOpen = before.loadedFrom === 'database';
      const images = await sweepLeftoverImages(ctx.storage.db, ctx.storage.images, silentLogger);
      bar?.end();
      out(
        { ...result, rebuiltAtOpen, count: after.count, verified: after.verified, images },
        [
          !after.verified
            ? 'not verified: the database is unavailable (the snapshot is served as it is)'
            : rebuiltAtOpen || result.rebuilt
              ? `the snapshot differed from the database and was rebuilt (${after.count} embeddings)`
              : `index, id map and database agree (${after.count} embeddings)`,
          sweepText(images),
        ].join('\n'),
      );
      return;
    }
    if (action === 'rebuild') {
      await embeddings.rebuild();
      bar?.end();
      out(embeddings.stats(), `rebuilt from the database: ${embeddings.stats().count} embeddings`);
      return;
    }
    const s = embeddings.stats();
    out(
      s,
      [
        `model ${s.modelId} (${s.dim}-d): ${s.count} embeddings of ${s.users} users`,
        `snapshot generation ${s.generation}${s.savedAt ? ` saved ${s.savedAt}` : ''}, loaded from ${s.loadedFrom}, ${s.verified ? 'verified against the database' : 'not verified (database unavailable)'}`,
        `search ${s.searchMode}; memory: fp32 vectors ${mb(s.indexBytes)} + fp16 copy ${mb(s.fp16Bytes)}`,
      ].join('\n'),
    );
  } finally {
    bar?.end();
    await ctx.close();
  }
}
