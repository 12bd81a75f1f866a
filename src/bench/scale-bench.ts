// `facegate bench scale`: the figures behind issue 18's scale argument (many appliances, one
// PostgreSQL), measured on this machine in one run:
//   1. the local index at each size: RAM of the fp32 vectors and their fp16 copy, the snapshot on
//      disk, what one change costs a follower (add 1, add 100, remove 1 in memory; and the real
//      EmbeddingStore's add of 1, which writes a whole snapshot generation), and one search's p50;
//   2. recognition events per second into one PostgreSQL from N writers at once, each a DbStore of
//      its own with its own appliance id, one insert per event (the baseline) beside batches;
//   3. catch-up after an hour offline at 100 changes a minute (6,000 changes), as an estimate made
//      of measured parts: the SELECT of 6,000 embedding rows written through the store, their apply
//      to the index one change at a time, and one snapshot save. It is labelled an estimate in the
//      report: the change feed that would be timed end to end was not in place when this was written.
// pgvector is quoted from the README (0.5-4.9 s per query at 1M), not measured here.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { cpuInfo, FlatIndex, simdInfo } from '../../core/native/index.js';
import type { DbStore, EmbeddingRecord, RecognitionEvent } from '../../storage/db/db-store.js';
import type { EmbeddingEntry } from '../../storage/embeddings/embedding-store.js';
import { dropPostgresSchema, openDbStore, openStorage, parseStorageConfig } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { nearestRank } from '../percentile.js';
import { randomUnitVectors, sequentialIds } from './random-vectors.js';

export interface ScaleBenchOptions {
  databaseUrl: string;
  /** Index sizes (embeddings). */
  sizes: number[];
  /** The embedding dimension (the default embedder's, from the manifest, unless told). */
  dim: number;
  /** Concurrent writers for the events table; the first is the baseline the others are compared with. */
  writers: number[];
  /** The batched mode's batch size (beside one insert per event). */
  batch: number;
  /** Seconds each writers x batch configuration writes for. */
  seconds: number;
  /** Searches timed per size. */
  queries: number;
  /** Changes missed while offline: 60 minutes at 100 a minute by default. */
  changes: number;
  /** The largest fp32 index whose snapshot is written for real (default SNAPSHOT_LIMIT_BYTES); larger ones are scaled. */
  snapshotLimitBytes?: number;
  progress?: (message: string) => void;
}

export interface IndexRow {
  size: number;
  fp32Bytes: number;
  fp16Bytes: number;
  /** faiss.index + id_map.json of one snapshot generation; estimated from a smaller size's bytes per embedding where not written. */
  snapshotBytes: number | null;
  /** EmbeddingStore.add of one embedding on an index of this size: the add plus a whole snapshot generation, as the store commits every change today. */
  storeAdd1Ms: number | null;
  /** True when snapshotBytes and storeAdd1Ms are scaled from a smaller size rather than measured (the snapshot would not fit the memory bound). */
  snapshotEstimated: boolean;
  /** In memory only (FlatIndex): the apply cost a follower pays per change before any save. */
  add1Ms: number;
  add100Ms: number;
  remove1Ms: number;
  searchP50Ms: number;
  searchP99Ms: number;
}

export interface WritersRow {
  writers: number;
  batch: number;
  events: number;
  /** Events the store spooled instead of writing to the database (0 unless PostgreSQL failed). */
  spooled: number;
  seconds: number;
  eventsPerSecond: number;
  perWriterEventsPerSecond: number;
  /** This row's events/s over the same writers' one-insert-per-event row (1 for that row). */
  vsBatch1: number;
  /** This row's events/s over the first writers count's at the same batch (1 for that row). */
  vsFirstWriters: number;
}

export interface CatchUpRow {
  size: number;
  /** The SELECT of the missed rows (measured once, the same at every size). */
  readMs: number;
  /** Applying them to an index of this size one change at a time, in memory (measured). */
  applyMs: number;
  /** One snapshot save after the batch (IndexRow.storeAdd1Ms: measured or scaled). */
  snapshotMs: number | null;
  snapshotEstimated: boolean;
  totalMs: number | null;
}

export interface ScaleBenchReport {
  cpu: { model: string; vendor: string; cores: number; simd: string };
  dim: number;
  k: number;
  index: IndexRow[];
  /** Quoted, not measured: the README's pgvector figure. */
  pgvectorQuoted: string;
  events: { seconds: number; batches: [1, number]; rows: WritersRow[] };
  catchUp: {
    kind: 'estimate';
    method: string;
    changes: number;
    /** Writing the changes at the other appliance: users with embeddings through DbStore.createUser. */
    writeSeconds: number;
    readMs: number;
    rows: CatchUpRow[];
  };
  /** The bench process's peak resident memory. */
  peakRssMb: number;
}

const K = 10;
const CHUNK_ROWS = 100_000;
/** add-1/remove-1 samples per size, and add-100 samples. */
const SINGLE_SAMPLES = 20;
const BATCH_SAMPLES = 5;
/** Snapshot generations written by the real store per size (each is a whole index). */
const STORE_SAMPLES = 3;
/**
 * The largest fp32 index whose snapshot is written for real: the store holds its own copy of the
 * index (fp32 + fp16) beside the bench's, and serialize() another fp32 copy. At 1M x 512-d (2 GB of
 * fp32) the bench's own index already peaks at 5.3 GB RSS while it grows (measured: the native
 * vectors are reallocated as chunks are added), and a written snapshot would add 5 GB more, so 1M is
 * scaled from the largest size written, by bytes (a snapshot is one sequential write).
 */
export const SNAPSHOT_LIMIT_BYTES = 512 * 1024 * 1024;
/** Embeddings per synthetic user in the catch-up feed (an enrolment takes a few photos). */
const EMBEDDINGS_PER_USER = 5;
const FEED_MODEL = 'scale-bench-feed';
const INDEX_MODEL = 'scale-bench-index';
export const PGVECTOR_QUOTE = '0.5-4.9 s per query at 1M embeddings (README, halfvec to vector; quoted, not measured)';

const snapshotSchema = (schema: string) => `${schema}_snap`;

function ms(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

function median(values: number[]): number {
  return nearestRank(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

function recognitionEvents(n: number, writer: number, serial: number): RecognitionEvent[] {
  const start = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    timestamp: new Date(start + i),
    cameraId: `cam_${(serial + i) % 4}`,
    matchedUserId: (serial + i) % 3 === 0 ? null : `U${(serial + i) % 50}`,
    confidence: 0.5 + ((serial + i) % 50) / 100,
    trackId: `w${writer}-t${serial + i}`,
    modelId: 'bench',
    threshold: 0.45,
  }));
}

/** Entries for the real EmbeddingStore: views on the bench's chunks, five per synthetic user. */
function entriesOf(chunks: Float32Array[], dim: number, firstId: number, modelId: string): EmbeddingEntry[] {
  const entries: EmbeddingEntry[] = [];
  let id = firstId;
  for (const chunk of chunks) {
    for (let row = 0; row < chunk.length / dim; row++, id++) {
      entries.push({
        embeddingId: BigInt(id),
        userId: `scale_${Math.floor(id / EMBEDDINGS_PER_USER)}`,
        image: `face_${id % EMBEDDINGS_PER_USER}.png`,
        modelId,
        vector: chunk.subarray(row * dim, (row + 1) * dim),
      });
    }
  }
  return entries;
}

/** The real store's snapshot at `size`: its bytes on disk and what one add (one generation) costs. */
async function measureStoreSnapshot(
  options: ScaleBenchOptions,
  schema: string,
  scratch: string,
  chunks: Float32Array[],
  size: number,
): Promise<{ bytes: number; add1Ms: number }> {
  const dataRoot = path.join(scratch, `snapshot-${size}`);
  const storage = await openStorage(
    parseStorageConfig({ dataRoot, databaseUrl: options.databaseUrl, applianceId: 'scale-snapshot' }),
    // A schema of its own, with no rows: the index holds vectors the database does not, and nothing
    // may compare the two (a verify, a change follower) while the generations are timed.
    { embeddingModel: { id: INDEX_MODEL, dim: options.dim }, schema: snapshotSchema(schema), logger: silentLogger },
  );
  try {
    await storage.embeddings.add(entriesOf(chunks, options.dim, 0, INDEX_MODEL));
    const extra = randomUnitVectors(STORE_SAMPLES, options.dim, 7_000_001 + size);
    const times: number[] = [];
    for (let i = 0; i < STORE_SAMPLES; i++) {
      const [entry] = entriesOf(
        [extra.subarray(i * options.dim, (i + 1) * options.dim)],
        options.dim,
        size + i,
        INDEX_MODEL,
      );
      const t = process.hrtime.bigint();
      await storage.embeddings.add([entry as EmbeddingEntry]);
      times.push(ms(t));
    }
    // stats.json, the generation's commit record, lists both data files' sizes (storage/embeddings/snapshot.ts).
    const stats = JSON.parse(await readFile(path.join(dataRoot, 'embeddings', 'stats.json'), 'utf8')) as {
      files: Record<string, { bytes: number }>;
    };
    const bytes = Object.values(stats.files).reduce((sum, f) => sum + f.bytes, 0);
    return { bytes, add1Ms: median(times) };
  } finally {
    await storage.close();
    await rm(dataRoot, { recursive: true, force: true });
  }
}

async function measureIndex(
  options: ScaleBenchOptions,
  schema: string,
  scratch: string,
  size: number,
  feed: Float32Array,
): Promise<{ row: IndexRow; applyMs: number }> {
  const { dim } = options;
  const progress = options.progress ?? (() => {});
  const keepChunks = size * dim * 4 <= (options.snapshotLimitBytes ?? SNAPSHOT_LIMIT_BYTES);
  const chunks: Float32Array[] = [];
  const index = FlatIndex.create(dim);
  for (let first = 0; first < size; first += CHUNK_ROWS) {
    const rows = Math.min(CHUNK_ROWS, size - first);
    const chunk = randomUnitVectors(rows, dim, 1 + first);
    index.add(chunk, sequentialIds(rows, first));
    if (keepChunks) chunks.push(chunk);
    progress(`index ${size}: built ${first + rows}/${size}`);
  }
  const memory = index.memory();

  // One change at a time, as a follower applies them; each taken out again so the size holds.
  const extra = randomUnitVectors(Math.max(SINGLE_SAMPLES, 100), dim, 9_000_001 + size);
  const add1: number[] = [];
  const remove1: number[] = [];
  for (let i = 0; i < SINGLE_SAMPLES; i++) {
    const id = new BigInt64Array([BigInt(size + i)]);
    let t = process.hrtime.bigint();
    index.add(extra.subarray(i * dim, (i + 1) * dim), id);
    add1.push(ms(t));
    t = process.hrtime.bigint();
    index.remove(id);
    remove1.push(ms(t));
  }
  const add100: number[] = [];
  const hundredIds = sequentialIds(100, size);
  for (let i = 0; i < BATCH_SAMPLES; i++) {
    const t = process.hrtime.bigint();
    index.add(extra.subarray(0, 100 * dim), hundredIds);
    add100.push(ms(t));
    index.remove(hundredIds);
  }

  progress(`index ${size}: ${options.queries} searches`);
  const queries = randomUnitVectors(options.queries, dim, 8_000_001 + size);
  for (let q = 0; q < Math.min(3, options.queries); q++)
    await index.search(queries.subarray(q * dim, (q + 1) * dim), K);
  const searches: number[] = [];
  for (let q = 0; q < options.queries; q++) {
    const t = process.hrtime.bigint();
    await index.search(queries.subarray(q * dim, (q + 1) * dim), K);
    searches.push(ms(t));
  }
  searches.sort((a, b) => a - b);

  // The missed changes, applied to this index one at a time (the catch-up's apply part).
  progress(`index ${size}: applying ${feed.length / dim} changes one at a time`);
  const feedRows = feed.length / dim;
  const t = process.hrtime.bigint();
  for (let i = 0; i < feedRows; i++) {
    index.add(feed.subarray(i * dim, (i + 1) * dim), new BigInt64Array([BigInt(size + 1000 + i)]));
  }
  const applyMs = ms(t);
  index.remove(sequentialIds(feedRows, size + 1000));

  let snapshot: { bytes: number; add1Ms: number } | null = null;
  if (keepChunks) {
    progress(`index ${size}: snapshot generations through the EmbeddingStore`);
    snapshot = await measureStoreSnapshot(options, schema, scratch, chunks, size);
  }
  return {
    row: {
      size,
      fp32Bytes: memory.fp32Bytes,
      fp16Bytes: memory.fp16Bytes,
      snapshotBytes: snapshot?.bytes ?? null,
      storeAdd1Ms: snapshot?.add1Ms ?? null,
      snapshotEstimated: false,
      add1Ms: median(add1),
      add100Ms: median(add100),
      remove1Ms: median(remove1),
      searchP50Ms: nearestRank(searches, 0.5),
      searchP99Ms: nearestRank(searches, 0.99),
    },
    applyMs,
  };
}

/** Sizes whose snapshot was not written: bytes and save time scaled by size from the largest one written. */
function fillEstimates(rows: IndexRow[]): void {
  const measured = rows
    .filter((r) => r.snapshotBytes !== null && r.storeAdd1Ms !== null)
    .sort((a, b) => b.size - a.size)[0];
  if (!measured) return;
  for (const row of rows) {
    if (row.snapshotBytes !== null) continue;
    const scale = row.size / measured.size;
    row.snapshotBytes = Math.round((measured.snapshotBytes as number) * scale);
    row.storeAdd1Ms = (measured.storeAdd1Ms as number) * scale;
    row.snapshotEstimated = true;
  }
}

/** N writers at once for `seconds`, each writing batches of `batch` (1: recordRecognition, one insert per event). */
async function writeEvents(
  stores: DbStore[],
  batch: number,
  seconds: number,
): Promise<Omit<WritersRow, 'vsBatch1' | 'vsFirstWriters'>> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const counts = await Promise.all(
    stores.map(async (db, writer) => {
      let events = 0;
      let spooled = 0;
      while (performance.now() < deadline) {
        const batchOf = recognitionEvents(batch, writer, events);
        const writes =
          batch === 1
            ? [await db.recordRecognition(batchOf[0] as RecognitionEvent)]
            : await db.recordRecognitions(batchOf);
        events += writes.length;
        spooled += writes.filter((w) => w.stored === 'spool').length;
      }
      return { events, spooled };
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const events = counts.reduce((sum, c) => sum + c.events, 0);
  return {
    writers: stores.length,
    batch,
    events,
    spooled: counts.reduce((sum, c) => sum + c.spooled, 0),
    seconds: elapsed,
    eventsPerSecond: events / elapsed,
    perWriterEventsPerSecond: events / elapsed / stores.length,
  };
}

async function measureEvents(options: ScaleBenchOptions, schema: string, scratch: string): Promise<WritersRow[]> {
  const progress = options.progress ?? (() => {});
  const most = Math.max(...options.writers);
  const stores: DbStore[] = [];
  try {
    // One after another: the first runs the migrations the others then find done.
    for (let w = 0; w < most; w++) {
      const db = await openDbStore({
        databaseUrl: options.databaseUrl,
        schema,
        pgliteDir: path.join(scratch, `writer-${w}`, 'pglite'),
        spoolDir: path.join(scratch, `writer-${w}`, 'spool'),
        applianceId: `scale-writer-${w + 1}`,
        logger: silentLogger,
      });
      stores.push(db);
      if (!db.health().available)
        throw new Error(`cannot reach PostgreSQL: ${db.health().lastError ?? 'unknown error'}`);
      await db.recordRecognitions(recognitionEvents(100, w, 0)); // warm-up: connections, plans
    }
    const rows: Omit<WritersRow, 'vsBatch1' | 'vsFirstWriters'>[] = [];
    for (const n of options.writers) {
      for (const batch of [1, options.batch]) {
        progress(`events: ${n} writer(s), batch ${batch}, ${options.seconds} s`);
        rows.push(await writeEvents(stores.slice(0, n), batch, options.seconds));
      }
    }
    const find = (writers: number, batch: number) =>
      rows.find((r) => r.writers === writers && r.batch === batch) as (typeof rows)[number];
    const first = options.writers[0] as number;
    return rows.map((r) => ({
      ...r,
      vsBatch1: r.eventsPerSecond / find(r.writers, 1).eventsPerSecond,
      vsFirstWriters: r.eventsPerSecond / find(first, r.batch).eventsPerSecond,
    }));
  } finally {
    for (const db of stores) await db.close();
  }
}

/** The missed changes written at "the other appliance": users with their embeddings, through the store. */
async function writeFeed(
  options: ScaleBenchOptions,
  schema: string,
  scratch: string,
): Promise<{ db: DbStore; writeSeconds: number }> {
  const db = await openDbStore({
    databaseUrl: options.databaseUrl,
    schema,
    pgliteDir: path.join(scratch, 'central', 'pglite'),
    spoolDir: path.join(scratch, 'central', 'spool'),
    applianceId: 'scale-enroller',
    logger: silentLogger,
  });
  if (!db.health().available) {
    await db.close();
    throw new Error(`cannot reach PostgreSQL: ${db.health().lastError ?? 'unknown error'}`);
  }
  const vectors = randomUnitVectors(options.changes, options.dim, 6_000_001);
  const t = process.hrtime.bigint();
  for (let first = 0, u = 0; first < options.changes; first += EMBEDDINGS_PER_USER, u++) {
    const rows = Math.min(EMBEDDINGS_PER_USER, options.changes - first);
    await db.createUser(
      { id: `feed_${u}`, name: `Feed user ${u}` },
      Array.from({ length: rows }, (_, i) => ({
        image: `face_${i}.png`,
        modelId: FEED_MODEL,
        vector: vectors.subarray((first + i) * options.dim, (first + i + 1) * options.dim),
      })),
    );
  }
  return { db, writeSeconds: ms(t) / 1000 };
}

async function readFeed(db: DbStore, dim: number): Promise<{ readMs: number; vectors: Float32Array }> {
  let records: EmbeddingRecord[] = [];
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    records = await db.listEmbeddings(FEED_MODEL);
    times.push(ms(t));
  }
  const vectors = new Float32Array(records.length * dim);
  records.forEach((r, i) => vectors.set(r.vector, i * dim));
  return { readMs: median(times), vectors };
}

export async function runScaleBench(options: ScaleBenchOptions): Promise<ScaleBenchReport> {
  const progress = options.progress ?? (() => {});
  const schema = `fgbench_scale_${process.pid}_${Date.now()}`;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-scale-'));
  try {
    progress(`catch-up feed: writing ${options.changes} embeddings through the store`);
    const { db, writeSeconds } = await writeFeed(options, schema, scratch);
    let feed: { readMs: number; vectors: Float32Array };
    try {
      feed = await readFeed(db, options.dim);
    } finally {
      await db.close();
    }
    if (feed.vectors.length !== options.changes * options.dim) {
      throw new Error(
        `Expected ${options.changes} feed rows back from the database but received ${feed.vectors.length / options.dim}`,
      );
    }

    const index: IndexRow[] = [];
    const applyMs = new Map<number, number>();
    for (const size of options.sizes) {
      const measured = await measureIndex(options, schema, scratch, size, feed.vectors);
      index.push(measured.row);
      applyMs.set(size, measured.applyMs);
    }
    fillEstimates(index);

    const events = await measureEvents(options, schema, scratch);

    const cpu = cpuInfo();
    return {
      cpu: { model: cpu.model, vendor: cpu.vendor, cores: os.availableParallelism(), simd: simdInfo().active },
      dim: options.dim,
      k: K,
      index,
      pgvectorQuoted: PGVECTOR_QUOTE,
      events: { seconds: options.seconds, batches: [1, options.batch], rows: events },
      catchUp: {
        kind: 'estimate',
        method:
          'no change feed to time end to end: the SELECT of the missed embedding rows (DbStore.listEmbeddings, median of 3) + their apply to the index one change at a time (FlatIndex.add, measured at each size) + one snapshot save (the store add-1 column)',
        changes: options.changes,
        writeSeconds,
        readMs: feed.readMs,
        rows: index.map((row) => {
          const apply = applyMs.get(row.size) as number;
          return {
            size: row.size,
            readMs: feed.readMs,
            applyMs: apply,
            snapshotMs: row.storeAdd1Ms,
            snapshotEstimated: row.snapshotEstimated,
            totalMs: row.storeAdd1Ms === null ? null : feed.readMs + apply + row.storeAdd1Ms,
          };
        }),
      },
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await dropPostgresSchema(options.databaseUrl, schema);
    await dropPostgresSchema(options.databaseUrl, snapshotSchema(schema));
    await rm(scratch, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0);
const fixed = (value: number, digits: number) =>
  value.toFixed(value < 10 ? digits : value < 100 ? Math.min(digits, 1) : 0);

export function formatScaleBench(r: ScaleBenchReport): string {
  const est = (value: string, estimated: boolean) => (estimated ? `~${value}` : value);
  const lines = [
    `scale benchmark (issue 18): dim ${r.dim}, k ${r.k}`,
    `CPU: ${r.cpu.model || '(no brand string)'} (${r.cpu.vendor}), ${r.cpu.cores} cores, ${r.cpu.simd}`,
    '',
    'local index (random unit vectors): RAM, snapshot, one change in memory, one change through the EmbeddingStore (a whole snapshot generation), one search',
    '     size  fp32 MB  fp16 MB  snapshot MB  store add 1 ms  add 1 ms  add 100 ms  remove 1 ms  search p50 ms  search p99 ms',
  ];
  for (const row of r.index) {
    lines.push(
      [
        String(row.size).padStart(9),
        mb(row.fp32Bytes).padStart(8),
        mb(row.fp16Bytes).padStart(8),
        (row.snapshotBytes === null ? '-' : est(mb(row.snapshotBytes), row.snapshotEstimated)).padStart(12),
        (row.storeAdd1Ms === null ? '-' : est(fixed(row.storeAdd1Ms, 1), row.snapshotEstimated)).padStart(15),
        row.add1Ms.toFixed(3).padStart(9),
        row.add100Ms.toFixed(3).padStart(11),
        row.remove1Ms.toFixed(3).padStart(12),
        fixed(row.searchP50Ms, 2).padStart(14),
        fixed(row.searchP99Ms, 2).padStart(14),
      ].join(' '),
    );
  }
  if (r.index.some((row) => row.snapshotEstimated)) {
    lines.push(
      `~: scaled by size from the largest snapshot written (over ${SNAPSHOT_LIMIT_BYTES / 1024 / 1024} MiB of fp32 is not written: memory)`,
    );
  }
  lines.push(`pgvector, for comparison: ${r.pgvectorQuoted}`, '');

  lines.push(
    `recognition events into one PostgreSQL: N writers at once (one process, each its own DbStore and appliance id), ${r.events.seconds} s per row`,
    'writers  batch  events/s  per writer  vs batch 1  vs 1st writers   events  spooled',
  );
  for (const row of r.events.rows) {
    lines.push(
      [
        String(row.writers).padStart(7),
        String(row.batch).padStart(6),
        row.eventsPerSecond.toFixed(0).padStart(9),
        row.perWriterEventsPerSecond.toFixed(0).padStart(11),
        `${row.vsBatch1.toFixed(1)}x`.padStart(11),
        `${row.vsFirstWriters.toFixed(2)}x`.padStart(15),
        String(row.events).padStart(8),
        String(row.spooled).padStart(8),
      ].join(' '),
    );
  }
  lines.push('');

  const c = r.catchUp;
  lines.push(
    `catch-up after ${c.changes} missed changes (an hour offline at 100 a minute is 6000): ESTIMATE`,
    `how: ${c.method}`,
    `the changes were written at the other appliance in ${c.writeSeconds.toFixed(1)} s (createUser, ${EMBEDDINGS_PER_USER} embeddings each)`,
    '     size  read ms  apply ms  snapshot ms  total s',
  );
  for (const row of c.rows) {
    lines.push(
      [
        String(row.size).padStart(9),
        fixed(row.readMs, 1).padStart(8),
        fixed(row.applyMs, 1).padStart(9),
        (row.snapshotMs === null ? '-' : est(fixed(row.snapshotMs, 1), row.snapshotEstimated)).padStart(12),
        (row.totalMs === null ? '-' : est((row.totalMs / 1000).toFixed(2), row.snapshotEstimated)).padStart(8),
      ].join(' '),
    );
  }
  lines.push('', `peak RSS of this run: ${r.peakRssMb.toFixed(0)} MB`);
  return lines.join('\n');
}
