// `facegate bench search`: our native search beside FAISS's own search and a plain TypeScript
// loop, all on the same random unit vectors in the same run, and beside the memory-read
// bandwidth bound measured on this machine in that run.
import { FlatIndex, measureReadBandwidth, type SearchResult, simdInfo } from '../../core/native/index.js';
import { nearestRank } from '../percentile.js';
import { bruteForceTopK } from './brute-force.js';
import { randomUnitVectors, sequentialIds } from './random-vectors.js';

export interface SearchBenchOptions {
  n: number;
  dim: number;
  k: number;
  /** Single queries timed for our search. */
  queries: number;
  /** Single queries timed for the slow baselines (FAISS, TypeScript); recall is computed on these. */
  baselineQueries: number;
  seed: number;
  progress?: (message: string) => void;
}

/** facegate: the default fp16-rerank search; facegate-fp32: the exact-fp32 scan; -async: through the AsyncWorker. */
export type Method = 'facegate' | 'facegate-fp32' | 'facegate-async' | 'faiss' | 'typescript';

export interface MethodResult {
  method: Method;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  batch32QueriesPerSecond: number;
  recallAtK: number;
  /** p50 divided by the bandwidth bound: 1.0 reads the index exactly as fast as memory allows. */
  p50OverBound: number;
  /** FAISS's p50 divided by this method's p50. */
  speedupOverFaiss: number;
}

export interface SearchBenchReport {
  options: Omit<SearchBenchOptions, 'progress'>;
  /** readGBps: the median of the bandwidth samples taken between our timed queries; readGBpsRange: their min and max. */
  machine: { simd: string; threads: number; readGBps: number; readGBpsRange: [number, number] };
  indexBytes: number;
  /** N * dim * 4 bytes at the measured read bandwidth: no scan of the fp32 vectors from RAM is faster. */
  boundMs: number;
  /** What the index holds: the fp32 vectors (FAISS) and the fp16 copy the default search scans. */
  memory: { fp32Bytes: number; fp16Bytes: number };
  methods: MethodResult[];
  /** What one call costs on a 100-vector index: the N-API crossing plus a trivial scan. */
  tinyIndex: { n: number; syncMicrosPerCall: number; asyncMicrosPerCall: number };
}

const BATCH = 32;
const CHUNK_ROWS = 100_000;

function query(queries: Float32Array, dim: number, q: number): Float32Array {
  return queries.subarray(q * dim, (q + 1) * dim);
}

/** Times each of `count` runs; `between` (untimed) runs before every 10th. */
async function timeEach(count: number, run: (q: number) => unknown, between?: () => void): Promise<number[]> {
  const ms: number[] = [];
  for (let q = 0; q < count; q++) {
    if (between && q % 10 === 0) between();
    const start = process.hrtime.bigint();
    await run(q);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return ms.sort((a, b) => a - b);
}

async function timeOnce(run: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function recall(result: SearchResult[], reference: SearchResult[], k: number): number {
  let hits = 0;
  let total = 0;
  result.forEach((r, q) => {
    const want = new Set((reference[q] as SearchResult).ids);
    want.delete(-1n);
    for (const id of r.ids) if (want.has(id)) hits++;
    total += want.size;
  });
  return total === 0 ? 1 : hits / Math.min(total, result.length * k);
}

export async function runSearchBench(options: SearchBenchOptions): Promise<SearchBenchReport> {
  const { n, dim, k, seed } = options;
  const progress = options.progress ?? (() => {});
  const index = FlatIndex.create(dim);
  const chunks: Float32Array[] = [];
  for (let first = 0; first < n; first += CHUNK_ROWS) {
    const rows = Math.min(CHUNK_ROWS, n - first);
    const chunk = randomUnitVectors(rows, dim, seed + first);
    index.add(chunk, sequentialIds(rows, first));
    chunks.push(chunk);
    progress(`built ${first + rows}/${n} vectors`);
  }
  const ids = sequentialIds(n);
  const queries = randomUnitVectors(Math.max(options.queries, options.baselineQueries), dim, seed - 1);
  const batch = randomUnitVectors(BATCH, dim, seed - 2);

  // The bandwidth is sampled between every 10 of our timed queries and the median taken: this
  // virtual machine's memory speed drifts (26-40 GB/s within a minute, measured), so a bound from
  // one moment would flatter or blame whichever queries ran at another.
  const indexBytes = n * dim * 4;
  const bandwidthSamples: number[] = [];
  const sampleBandwidth = () => {
    bandwidthSamples.push(measureReadBandwidth(Math.max(indexBytes, 1 << 20), 2));
  };

  const qb = Math.min(options.baselineQueries, options.queries);
  // The results of the first qb queries of each method, for recall against FAISS's.
  const results = new Map<Method, SearchResult[]>();
  const keep = (method: Method, q: number, r: SearchResult) => {
    if (q >= qb) return;
    const list = results.get(method) ?? [];
    list.push(r);
    results.set(method, list);
  };

  progress(`facegate: ${options.queries} single queries, fp16-rerank and exact-fp32`);
  for (let q = 0; q < 3; q++) index.searchSync(query(queries, dim, q), k); // warm-up
  const ours = await timeEach(
    options.queries,
    (q) => keep('facegate', q, index.searchSync(query(queries, dim, q), k)),
    sampleBandwidth,
  );
  const oursAsync = await timeEach(
    options.queries,
    async (q) => keep('facegate-async', q, await index.search(query(queries, dim, q), k)),
    sampleBandwidth,
  );
  const oursBatch = Math.min(...(await timeEach(5, () => index.searchSync(batch, k))));
  index.searchMode = 'exact-fp32';
  for (let q = 0; q < 3; q++) index.searchSync(query(queries, dim, q), k);
  const oursFp32 = await timeEach(
    options.queries,
    (q) => keep('facegate-fp32', q, index.searchSync(query(queries, dim, q), k)),
    sampleBandwidth,
  );
  const oursFp32Batch = Math.min(...(await timeEach(5, () => index.searchSync(batch, k))));
  index.searchMode = 'fp16-rerank';

  progress(`faiss: ${qb} single queries`);
  const faiss = await timeEach(qb, (q) => keep('faiss', q, index.faissSearchSync(query(queries, dim, q), k)));
  const faissBatch = Math.min(...(await timeEach(2, () => index.faissSearchSync(batch, k))));

  progress(`typescript: ${qb} single queries`);
  const ts = await timeEach(qb, (q) =>
    keep('typescript', q, bruteForceTopK(chunks, ids, dim, query(queries, dim, q), k)),
  );
  const tsBatch = await timeOnce(() => bruteForceTopK(chunks, ids, dim, batch, k));

  const readGBps = nearestRank(
    [...bandwidthSamples].sort((a, b) => a - b),
    0.5,
  );
  const boundMs = indexBytes / readGBps / 1e6;

  const reference = results.get('faiss') ?? [];
  const faissP50 = nearestRank(faiss, 0.5);
  const row = (method: Method, sortedMs: number[], batchMs: number): MethodResult => {
    const p50Ms = nearestRank(sortedMs, 0.5);
    return {
      method,
      samples: sortedMs.length,
      p50Ms,
      p99Ms: nearestRank(sortedMs, 0.99),
      batch32QueriesPerSecond: (BATCH * 1000) / batchMs,
      recallAtK: recall(results.get(method) ?? [], reference, k),
      p50OverBound: p50Ms / boundMs,
      speedupOverFaiss: faissP50 / p50Ms,
    };
  };

  progress('tiny index: N-API crossing');
  const tiny = FlatIndex.create(dim);
  tiny.add(randomUnitVectors(100, dim, seed + 7), sequentialIds(100));
  const tinyQuery = query(queries, dim, 0);
  const calls = 20_000;
  for (let i = 0; i < 1000; i++) tiny.searchSync(tinyQuery, k);
  const syncMs = await timeOnce(() => {
    for (let i = 0; i < calls; i++) tiny.searchSync(tinyQuery, k);
  });
  const asyncCalls = 2_000;
  const asyncMs = await timeOnce(async () => {
    for (let i = 0; i < asyncCalls; i++) await tiny.search(tinyQuery, k);
  });

  const simd = simdInfo();
  const { progress: _omit, ...plainOptions } = options;
  return {
    options: plainOptions,
    machine: {
      simd: simd.active,
      threads: simd.threads,
      readGBps,
      readGBpsRange: [Math.min(...bandwidthSamples), Math.max(...bandwidthSamples)],
    },
    indexBytes,
    boundMs,
    memory: { fp32Bytes: index.memory().fp32Bytes, fp16Bytes: index.memory().fp16Bytes },
    methods: [
      row('facegate', ours, oursBatch),
      row('facegate-fp32', oursFp32, oursFp32Batch),
      row('facegate-async', oursAsync, oursBatch),
      row('faiss', faiss, faissBatch),
      row('typescript', ts, tsBatch),
    ],
    tinyIndex: {
      n: 100,
      syncMicrosPerCall: (syncMs * 1000) / calls,
      asyncMicrosPerCall: (asyncMs * 1000) / asyncCalls,
    },
  };
}

/** The report as the table the README quotes. */
export function formatSearchBench(r: SearchBenchReport): string {
  const { n, dim, k } = r.options;
  const lines = [
    `search benchmark: N=${n} dim=${dim} k=${k}, ${r.machine.simd} on ${r.machine.threads} threads`,
    `memory-read bandwidth ${r.machine.readGBps.toFixed(1)} GB/s (median of samples between the queries; ${r.machine.readGBpsRange[0].toFixed(1)}-${r.machine.readGBpsRange[1].toFixed(1)}) -> fp32 bound ${r.boundMs.toFixed(2)} ms per query (${(r.indexBytes / 1e6).toFixed(0)} MB index)`,
    `memory: fp32 vectors ${(r.memory.fp32Bytes / 1e6).toFixed(0)} MB + fp16 copy ${(r.memory.fp16Bytes / 1e6).toFixed(0)} MB`,
    'facegate = fp16-rerank (default), facegate-fp32 = exact-fp32 scan; both return FAISS exact results',
    '',
    'method           samples   p50 ms   p99 ms  p50/bound  vs FAISS  batch-32 q/s  recall@k',
  ];
  for (const m of r.methods) {
    lines.push(
      [
        m.method.padEnd(15),
        String(m.samples).padStart(8),
        m.p50Ms.toFixed(2).padStart(8),
        m.p99Ms.toFixed(2).padStart(8),
        `${m.p50OverBound.toFixed(2)}x`.padStart(10),
        `${m.speedupOverFaiss.toFixed(2)}x`.padStart(9),
        m.batch32QueriesPerSecond.toFixed(0).padStart(13),
        m.recallAtK.toFixed(3).padStart(9),
      ].join(' '),
    );
  }
  lines.push(
    '',
    `tiny index (N=${r.tinyIndex.n}): searchSync ${r.tinyIndex.syncMicrosPerCall.toFixed(1)} us/call, search (async) ${r.tinyIndex.asyncMicrosPerCall.toFixed(1)} us/call`,
  );
  return lines.join('\n');
}
