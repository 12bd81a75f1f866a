// `facegate bench search`: see src/bench/search-bench.ts.
import { parseArgs } from 'node:util';

import { formatSearchBench, runSearchBench } from '../../bench/search-bench.js';
import { UsageError } from '../usage-error.js';

export const benchUsage = `facegate bench search [--n N] [--dim D] [--k K] [--queries Q] [--baseline-queries B] [--seed S] [--json]
  Exact search latency of facegate, FAISS's own search and a TypeScript loop on N random unit
  vectors, against this machine's memory-read bandwidth bound. Defaults: N 100000, dim 512,
  k 10, Q 100, B 20.`;

function positiveInt(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new UsageError(`Expected an integer in 1..${max} for --${name} but received "${raw}"`);
  }
  return value;
}

export async function benchCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      n: { type: 'string' },
      dim: { type: 'string' },
      k: { type: 'string' },
      queries: { type: 'string' },
      'baseline-queries': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'search' || positionals.length !== 1) {
    throw new UsageError(`Expected "bench search" but received "bench ${positionals.join(' ')}"`);
  }
  const report = await runSearchBench({
    n: positiveInt('n', values.n, 100_000, 50_000_000),
    dim: positiveInt('dim', values.dim, 512, 4096),
    k: positiveInt('k', values.k, 10, 4096),
    queries: positiveInt('queries', values.queries, 100, 100_000),
    baselineQueries: positiveInt('baseline-queries', values['baseline-queries'], 20, 100_000),
    seed: positiveInt('seed', values.seed, 1, 2 ** 31),
    progress: (message) => process.stderr.write(`bench: ${message}\n`),
  });
  out(report, formatSearchBench(report));
}
