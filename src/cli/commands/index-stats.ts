// `facegate index stats`: what the embedding index holds, where it came from, and its memory.
import { parseArgs } from 'node:util';

import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const indexUsage = `facegate index stats [--json]
  The embedding index: model, vectors, users, snapshot generation, verification against the
  database, search mode, and memory (fp32 vectors and the fp16 copy).`;

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function indexCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  if (positionals[0] !== 'stats' || positionals.length !== 1) throw new UsageError('Expected "index stats"');
  const ctx = await openContext({ vision: false });
  try {
    const s = ctx.storage.embeddings.stats();
    out(s, [
      `model ${s.modelId} (${s.dim}-d): ${s.count} embeddings of ${s.users} users`,
      `snapshot generation ${s.generation}${s.savedAt ? ` saved ${s.savedAt}` : ''}, loaded from ${s.loadedFrom}, ${s.verified ? 'verified against the database' : 'not verified (database unavailable)'}`,
      `search ${s.searchMode}; memory: fp32 vectors ${mb(s.indexBytes)} + fp16 copy ${mb(s.fp16Bytes)}`,
    ].join('\n'));
  } finally {
    await ctx.close();
  }
}
