// The nearest-rank percentile every report here prints (benchmarks, the labelled evaluation): the
// smallest value with at least p of the sample at or below it, a value the sample really holds.

/** The nearest-rank p-quantile (p in 0..1) of ascending `sorted`; 0 for an empty sample. */
export function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}
