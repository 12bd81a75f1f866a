// The plain TypeScript baseline: what a Node developer writes without an addon. Exact (it sums in
// double precision), and the independent reference the tests check the native search against.
import type { SearchResult } from '../../core/native/index.js';

/**
 * Exact top-k by inner product of each query against rows stored in `chunks` (each a whole number
 * of dim-float rows, in id order with `ids`). Results are laid out like FlatIndex's.
 */
export function bruteForceTopK(
  chunks: readonly Float32Array[],
  ids: BigInt64Array,
  dim: number,
  queries: Float32Array,
  k: number,
): SearchResult {
  const nq = queries.length / dim;
  const scores = new Float32Array(nq * k).fill(Number.NEGATIVE_INFINITY);
  const outIds = new BigInt64Array(nq * k).fill(-1n);
  const bestScores = new Float64Array(k);
  const bestRows = new Int32Array(k);
  for (let q = 0; q < nq; q++) {
    const qo = q * dim;
    bestScores.fill(Number.NEGATIVE_INFINITY);
    bestRows.fill(-1);
    let row = 0;
    for (const chunk of chunks) {
      for (let off = 0; off < chunk.length; off += dim, row++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += (queries[qo + j] as number) * (chunk[off + j] as number);
        if (s <= (bestScores[k - 1] as number)) continue;
        // Insertion into the sorted top-k; ties keep the earlier row first.
        let i = k - 1;
        while (i > 0 && (bestScores[i - 1] as number) < s) {
          bestScores[i] = bestScores[i - 1] as number;
          bestRows[i] = bestRows[i - 1] as number;
          i--;
        }
        bestScores[i] = s;
        bestRows[i] = row;
      }
    }
    for (let i = 0; i < k; i++) {
      const r = bestRows[i] as number;
      if (r < 0) break;
      scores[q * k + i] = bestScores[i] as number;
      outIds[q * k + i] = ids[r] as bigint;
    }
  }
  return { scores, ids: outIds };
}
