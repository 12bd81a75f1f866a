// `facegate bench scale`: the figures behind issue 18's scale argument (many appliances, one
// PostgreSQL), measured on this machine in one run:
//   1. the local index at each size: RAM of the fp32 vectors and their fp16 copy, the snapshot on
//      disk, what one change costs a follower (add 1, add 100, remove 1 in memory; and the real
//      EmbeddingStore's add of 1, which writes a whole snapshot generation), and one search's p50;
//   2. recognition events per second into one PostgreSQL from N writers at once, each a DbStore of
//      its own with its own appliance id, one insert per event (the baseline) beside batches;
//   3. catch-up after an hour offline at 100 changes a minute, end to end through the change feed:
//      appliance B (a Storage with its own data root and appliance id, on its own schema) holds an
//      index of N embeddings and its mark and is closed; appliance A (a DbStore of its own) enrols
//      users and deletes some of those B knew (6,000 embedding changes by default: 1,000 users x 5
//      added, 200 x 5 removed; the feed's own count is printed); B is reopened and timed until
//      openStorage returns with stats().behind === 0, once per follower batch size (a snapshot
//      generation per batch is the cost that grows with N). Then the live case: B open while A
//      enrols one user, from A's commit to B's index finding the new embeddings, median of 10.
//      B's N embeddings are written into its snapshot only (not the database): the follower never
//      compares the two once a snapshot has a mark, and a database of 1M vectors is not needed to
//      time an index of 1M. Sizes over the snapshot bound are scaled from the largest one measured.
// pgvector is quoted from the README (0.5-4.9 s per query at 1M), not measured here.
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { cpuInfo, FlatIndex, simdInfo } from '../../core/native/index.js';
import type { Change, DbStore, EmbeddingRecord, RecognitionEvent } from '../../storage/db/db-store.js';
import type { EmbeddingEntry } from '../../storage/embeddings/embedding-store.js';
import { dropPostgresSchema, openDbStore, openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
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
  /** Embedding changes missed while offline (60 minutes at 100 a minute by default): a sixth of them removals. */
  changes: number;
  /** The change follower's batch sizes, one catch-up row each (default CATCH_UP_BATCHES: the default 500, and 5,000). */
  catchUpBatches?: number[];
  /** Enrolments timed in the live case (default LIVE_SAMPLES). */
  liveSamples?: number;
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
  /** The follower's batch (openStorage's changeFeed.batchSize): changes read and applied per snapshot generation. */
  batchSize: number;
  /** openStorage of B's data root with nothing to apply (snapshot load, connect, one empty read): measured before A wrote. */
  openMs: number;
  /** openStorage with the backlog, until it returns with stats().behind === 0 (its start catches up). */
  totalMs: number;
  /** Snapshot generations written during the catch-up (one per batch). */
  generations: number;
  /** One generation at this size: B's add of one embedding after the catch-up, median of STORE_SAMPLES. */
  saveMs: number;
  /** generations x saveMs. */
  savesMs: number;
  /** totalMs - openMs - savesMs: reading the changes and their vectors, and the in-memory apply (derived). */
  readApplyMs: number;
  /** Changes the follower applied (stats().applied). */
  applied: number;
  /** Scaled from the largest size measured (open and saves by size, read+apply kept): not run at this size. */
  estimated: boolean;
}

export interface LiveRow {
  size: number;
  samples: number;
  /** A's createUser (one user, EMBEDDINGS_PER_USER embeddings) until its commit returned: median. */
  commitMs: number;
  /** From A's commit returned to B's index finding the new embedding (a search polled meanwhile): median. */
  searchableMs: number;
  /** From A's commit returned to B's users-changed listener (the batch's generation saved): median. */
  savedMs: number;
  estimated: boolean;
}

export interface FeedCount {
  /** Embedding changes asked for (options.changes). */
  embeddingChanges: number;
  usersCreated: number;
  embeddingsAdded: number;
  usersDeleted: number;
  embeddingsRemoved: number;
  /** What the feed recorded (its seqs), by kind. */
  feedChanges: number;
  byKind: Record<string, number>;
  /** A's writes, one transaction per user, in seconds. */
  writeSeconds: number;
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
    kind: 'measured';
    method: string;
    feed: FeedCount;
    /** B's index before A wrote: N synthetic embeddings plus the users A deletes later. */
    known: number;
    rows: CatchUpRow[];
    live: LiveRow[];
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
const INDEX_MODEL = 'scale-bench-index';
/** The follower's default batch (storage/embeddings/change-follower.ts), and one ten times larger. */
export const CATCH_UP_BATCHES = [500, 5_000];
const LIVE_SAMPLES = 10;
/** One removal for every five additions: a sixth of the embedding changes are deletions of users B knew. */
const REMOVAL_SHARE = 6;
/** B's synthetic embeddings get ids far above the database's (a bigserial from 1): they never meet. */
const SYNTHETIC_ID_BASE = 1_000_000_000_000;
export const PGVECTOR_QUOTE = '0.5-4.9 s per query at 1M embeddings (README, halfvec to vector; quoted, not measured)';

const snapshotSchema = (schema: string) => `${schema}_snap`;
const feedSchema = (schema: string) => `${schema}_feed`;

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
): Promise<IndexRow> {
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

  let snapshot: { bytes: number; add1Ms: number } | null = null;
  if (keepChunks) {
    progress(`index ${size}: snapshot generations through the EmbeddingStore`);
    snapshot = await measureStoreSnapshot(options, schema, scratch, chunks, size);
  }
  return {
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

/** A's DbStore (appliance A) on the catch-up schema. */
async function openApplianceA(options: ScaleBenchOptions, schema: string, scratch: string): Promise<DbStore> {
  const db = await openDbStore({
    databaseUrl: options.databaseUrl,
    schema: feedSchema(schema),
    pgliteDir: path.join(scratch, 'appliance-a', 'pglite'),
    spoolDir: path.join(scratch, 'appliance-a', 'spool'),
    applianceId: 'scale-appliance-a',
    logger: silentLogger,
  });
  if (!db.health().available) {
    const reason = db.health().lastError ?? 'unknown error';
    await db.close();
    throw new Error(`cannot reach PostgreSQL: ${reason}`);
  }
  return db;
}

/** Appliance B at one size: its own data root and id on the catch-up schema, the follower's batch as given. */
function openApplianceB(
  options: ScaleBenchOptions,
  schema: string,
  dataRoot: string,
  size: number,
  batchSize?: number,
): Promise<Storage> {
  return openStorage(
    parseStorageConfig({ dataRoot, databaseUrl: options.databaseUrl, applianceId: `scale-b-${size}` }),
    {
      embeddingModel: { id: INDEX_MODEL, dim: options.dim },
      schema: feedSchema(schema),
      logger: silentLogger,
      ...(batchSize === undefined ? {} : { changeFeed: { batchSize } }),
    },
  );
}

function newEmbeddings(vectors: Float32Array, dim: number, first: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    image: `face_${i}.png`,
    modelId: INDEX_MODEL,
    vector: vectors.subarray((first + i) * dim, (first + i + 1) * dim),
  }));
}

interface BuiltB {
  size: number;
  dataRoot: string;
  /** One data root per batch size: copies of the same starting snapshot. */
  roots: string[];
  generation: number;
  count: number;
  openMs: number;
}

/**
 * B at `size`: opened fresh on the schema (verified: the users A will delete are rebuilt into it
 * with the mark), then N synthetic embeddings added to its snapshot; closed, its open with nothing
 * to apply timed, and copied once per further batch size.
 */
async function buildApplianceB(
  options: ScaleBenchOptions,
  schema: string,
  scratch: string,
  size: number,
  batches: number[],
): Promise<BuiltB> {
  const progress = options.progress ?? (() => {});
  const dataRoot = path.join(scratch, `appliance-b-${size}`);
  const b = await openApplianceB(options, schema, dataRoot, size);
  let generation: number;
  let count: number;
  try {
    for (let first = 0; first < size; first += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, size - first);
      const chunk = randomUnitVectors(rows, options.dim, 11_000_001 + first);
      await b.embeddings.add(entriesOf([chunk], options.dim, SYNTHETIC_ID_BASE + first, INDEX_MODEL));
      progress(`catch-up: appliance B ${size}: ${first + rows}/${size} in its snapshot`);
    }
    const feed = b.changes.stats();
    if (feed.appliedSeq === null || feed.behind !== 0) {
      throw new Error(
        `Expected appliance B (${size}) caught up with a mark before A writes but received ${JSON.stringify(feed)}`,
      );
    }
    ({ generation, count } = b.embeddings.stats());
  } finally {
    await b.close();
  }
  const opens: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    const again = await openApplianceB(options, schema, dataRoot, size);
    opens.push(ms(t));
    const { generation: after } = again.embeddings.stats();
    await again.close();
    if (after !== generation)
      throw new Error(
        `Expected an open with nothing to apply to write no generation but it went ${generation} -> ${after}`,
      );
  }
  const roots = [dataRoot];
  for (const batch of batches.slice(1)) {
    const copy = `${dataRoot}-batch-${batch}`;
    await cp(dataRoot, copy, { recursive: true });
    roots.push(copy);
  }
  return { size, dataRoot, roots, generation, count, openMs: median(opens) };
}

/** The hour offline at A: users enrolled, and one in REMOVAL_SHARE of the embedding changes deletions of users B knew. */
async function writeChanges(
  options: ScaleBenchOptions,
  a: DbStore,
  known: string[],
  added: number,
): Promise<Omit<FeedCount, 'embeddingChanges' | 'usersDeleted' | 'embeddingsRemoved'>> {
  const progress = options.progress ?? (() => {});
  const before = await a.latestChangeSeq();
  const vectors = randomUnitVectors(added, options.dim, 6_000_001);
  const usersCreated = Math.ceil(added / EMBEDDINGS_PER_USER);
  const every = known.length === 0 ? Infinity : Math.max(1, Math.floor(usersCreated / known.length));
  const toDelete = [...known];
  const t = process.hrtime.bigint();
  for (let u = 0; u < usersCreated; u++) {
    const first = u * EMBEDDINGS_PER_USER;
    await a.createUser(
      { id: `feed_${u}`, name: `Feed user ${u}` },
      newEmbeddings(vectors, options.dim, first, Math.min(EMBEDDINGS_PER_USER, added - first)),
    );
    if ((u + 1) % every === 0 && toDelete.length > 0) await a.deleteUser(toDelete.shift() as string);
    if ((u + 1) % 200 === 0) progress(`catch-up: appliance A enrolled ${u + 1}/${usersCreated} users`);
  }
  for (const id of toDelete) await a.deleteUser(id);
  const writeSeconds = ms(t) / 1000;

  const byKind: Record<string, number> = {};
  let after = before;
  for (;;) {
    const changes = await a.readChanges(after, 10_000);
    if (changes.length === 0) break;
    for (const c of changes) byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
    after = (changes[changes.length - 1] as Change).seq;
  }
  return { usersCreated, embeddingsAdded: added, feedChanges: Number(after - before), byKind, writeSeconds };
}

/** B reopened on its starting snapshot with the backlog waiting, at one batch size. */
async function timeCatchUp(
  options: ScaleBenchOptions,
  schema: string,
  built: BuiltB,
  root: string,
  batchSize: number,
  feed: FeedCount,
): Promise<CatchUpRow> {
  const t = process.hrtime.bigint();
  const b = await openApplianceB(options, schema, root, built.size, batchSize);
  try {
    const totalMs = ms(t);
    const stats = b.changes.stats();
    const { generation, count } = b.embeddings.stats();
    const expected = built.count - feed.embeddingsRemoved + feed.embeddingsAdded;
    if (stats.behind !== 0 || stats.verifies !== 0 || stats.applied !== feed.feedChanges || count !== expected) {
      throw new Error(
        `Expected appliance B (${built.size}, batch ${batchSize}) to apply all ${feed.feedChanges} changes without a verify and hold ${expected} embeddings but received ${JSON.stringify(stats)} and ${count} embeddings`,
      );
    }
    // One generation at this size, as the follower writes one per batch.
    const extra = randomUnitVectors(STORE_SAMPLES, options.dim, 12_000_001 + built.size);
    const saves: number[] = [];
    for (let i = 0; i < STORE_SAMPLES; i++) {
      const entries = entriesOf(
        [extra.subarray(i * options.dim, (i + 1) * options.dim)],
        options.dim,
        SYNTHETIC_ID_BASE + built.size + i,
        INDEX_MODEL,
      );
      const s = process.hrtime.bigint();
      await b.embeddings.add(entries);
      saves.push(ms(s));
    }
    const generations = generation - built.generation;
    const saveMs = median(saves);
    return {
      size: built.size,
      batchSize,
      openMs: built.openMs,
      totalMs,
      generations,
      saveMs,
      savesMs: generations * saveMs,
      readApplyMs: totalMs - built.openMs - generations * saveMs,
      applied: stats.applied,
      estimated: false,
    };
  } finally {
    await b.close();
  }
}

/** B open while A enrols one user at a time: from A's commit to B's index finding it, and to B's listener. */
async function timeLive(
  options: ScaleBenchOptions,
  schema: string,
  built: BuiltB,
  a: DbStore,
  samples: number,
): Promise<LiveRow> {
  const b = await openApplianceB(options, schema, built.roots[built.roots.length - 1] as string, built.size);
  const told = new Map<string, bigint>();
  b.changes.onUsersChanged((ids) => {
    const now = process.hrtime.bigint();
    for (const id of ids) if (!told.has(id)) told.set(id, now);
  });
  const commit: number[] = [];
  const searchable: number[] = [];
  const saved: number[] = [];
  try {
    const vectors = randomUnitVectors(samples * EMBEDDINGS_PER_USER, options.dim, 13_000_001 + built.size);
    for (let i = 0; i < samples; i++) {
      const userId = `live_${built.size}_${i}`;
      const start = process.hrtime.bigint();
      const created = await a.createUser(
        { id: userId, name: `Live user ${i}` },
        newEmbeddings(vectors, options.dim, i * EMBEDDINGS_PER_USER, EMBEDDINGS_PER_USER),
      );
      const committed = process.hrtime.bigint();
      commit.push(Number(committed - start) / 1e6);
      const first = created.embeddings[0] as EmbeddingRecord;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const [top] = await b.embeddings.search(first.vector, 1);
        if (top?.embeddingId === first.id) break;
        if (Date.now() > deadline)
          throw new Error(`Expected appliance B (${built.size}) to index ${userId} within 30 s`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      searchable.push(Math.max(0, Number(process.hrtime.bigint() - committed) / 1e6));
      while (!told.has(userId)) {
        if (Date.now() > deadline)
          throw new Error(`Expected appliance B (${built.size}) to report ${userId} within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      saved.push(Math.max(0, Number((told.get(userId) as bigint) - committed) / 1e6));
    }
  } finally {
    await b.close();
  }
  return {
    size: built.size,
    samples,
    commitMs: median(commit),
    searchableMs: median(searchable),
    savedMs: median(saved),
    estimated: false,
  };
}

/**
 * Catch-up and live rows. Sizes whose fp32 index is over the snapshot bound (memory, as for the
 * index table) are scaled from the largest size measured: open and generations by size, the read
 * and in-memory apply as measured (the same backlog).
 */
async function measureCatchUp(
  options: ScaleBenchOptions,
  schema: string,
  scratch: string,
): Promise<{ feed: FeedCount; known: number; rows: CatchUpRow[]; live: LiveRow[] }> {
  const progress = options.progress ?? (() => {});
  const batches = options.catchUpBatches ?? CATCH_UP_BATCHES;
  const limit = options.snapshotLimitBytes ?? SNAPSHOT_LIMIT_BYTES;
  const sorted = [...options.sizes].sort((x, y) => x - y);
  const within = sorted.filter((size) => size * options.dim * 4 <= limit);
  const real = within.length > 0 ? within : sorted.slice(0, 1);

  const usersDeleted = Math.floor(options.changes / (REMOVAL_SHARE * EMBEDDINGS_PER_USER));
  const embeddingsRemoved = usersDeleted * EMBEDDINGS_PER_USER;
  const a = await openApplianceA(options, schema, scratch);
  try {
    // The users A deletes while B is offline: enrolled before, so B holds them.
    const knownVectors = randomUnitVectors(embeddingsRemoved, options.dim, 5_000_001);
    const known: string[] = [];
    for (let u = 0; u < usersDeleted; u++) {
      known.push(`known_${u}`);
      await a.createUser(
        { id: `known_${u}`, name: `Known user ${u}` },
        newEmbeddings(knownVectors, options.dim, u * EMBEDDINGS_PER_USER, EMBEDDINGS_PER_USER),
      );
    }
    const built: BuiltB[] = [];
    for (const size of real) built.push(await buildApplianceB(options, schema, scratch, size, batches));

    progress(`catch-up: appliance A makes ${options.changes} embedding changes while B is closed`);
    const written = await writeChanges(options, a, known, options.changes - embeddingsRemoved);
    const feed: FeedCount = { embeddingChanges: options.changes, usersDeleted, embeddingsRemoved, ...written };

    const rows: CatchUpRow[] = [];
    for (const b of built) {
      for (const [i, batch] of batches.entries()) {
        progress(`catch-up: appliance B ${b.size} reopened, batch ${batch}`);
        rows.push(await timeCatchUp(options, schema, b, b.roots[i] as string, batch, feed));
      }
    }
    const live: LiveRow[] = [];
    for (const b of built) {
      progress(`catch-up: live enrolments at A, appliance B ${b.size} open`);
      live.push(await timeLive(options, schema, b, a, options.liveSamples ?? LIVE_SAMPLES));
    }

    const largest = real[real.length - 1] as number;
    for (const size of sorted.filter((s) => !real.includes(s))) {
      const scale = size / largest;
      for (const batch of batches) {
        const from = rows.find((r) => r.size === largest && r.batchSize === batch) as CatchUpRow;
        const openMs = from.openMs * scale;
        const saveMs = from.saveMs * scale;
        rows.push({
          ...from,
          size,
          openMs,
          saveMs,
          savesMs: from.generations * saveMs,
          totalMs: openMs + from.readApplyMs + from.generations * saveMs,
          estimated: true,
        });
      }
      const fromLive = live.find((r) => r.size === largest) as LiveRow;
      const fromSave = rows.find((r) => r.size === largest) as CatchUpRow;
      live.push({
        ...fromLive,
        size,
        savedMs: fromLive.savedMs + fromSave.saveMs * (scale - 1),
        estimated: true,
      });
    }
    return { feed, known: embeddingsRemoved, rows, live };
  } finally {
    await a.close();
  }
}

export async function runScaleBench(options: ScaleBenchOptions): Promise<ScaleBenchReport> {
  const schema = `fgbench_scale_${process.pid}_${Date.now()}`;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-scale-'));
  try {
    const index: IndexRow[] = [];
    for (const size of options.sizes) index.push(await measureIndex(options, schema, scratch, size));
    fillEstimates(index);

    const events = await measureEvents(options, schema, scratch);
    const catchUp = await measureCatchUp(options, schema, scratch);

    const cpu = cpuInfo();
    return {
      cpu: { model: cpu.model, vendor: cpu.vendor, cores: os.availableParallelism(), simd: simdInfo().active },
      dim: options.dim,
      k: K,
      index,
      pgvectorQuoted: PGVECTOR_QUOTE,
      events: { seconds: options.seconds, batches: [1, options.batch], rows: events },
      catchUp: {
        kind: 'measured',
        method:
          "end to end through the change feed: appliance B's Storage (own data root and appliance id) reopened with the backlog waiting, timed until openStorage returns with stats().behind === 0; open = the same reopen with nothing to apply (median of 3, before A wrote); saves = generations written x one generation at this size (B's add of one embedding after, median of 3); read+apply = the rest",
        ...catchUp,
      },
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await dropPostgresSchema(options.databaseUrl, schema);
    await dropPostgresSchema(options.databaseUrl, snapshotSchema(schema));
    await dropPostgresSchema(options.databaseUrl, feedSchema(schema));
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
  const kinds = Object.entries(c.feed.byKind)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
  lines.push(
    `catch-up after an hour offline at 100 a minute: ${c.feed.embeddingChanges} embedding changes, measured end to end`,
    `appliance A (its own DbStore and appliance id) enrolled ${c.feed.usersCreated} users (${c.feed.embeddingsAdded} embeddings) and deleted ${c.feed.usersDeleted} that B held (${c.feed.embeddingsRemoved} embeddings) in ${c.feed.writeSeconds.toFixed(1)} s, one transaction each`,
    `the feed recorded ${c.feed.feedChanges} changes: ${kinds}`,
    `appliance B held N synthetic embeddings (in its snapshot only) + the ${c.known} it later lost, and its mark`,
    `how: ${c.method}`,
    '     size  batch  open ms  generations  save ms each  saves ms  read+apply ms  total s  applied',
  );
  const byRow = (x: CatchUpRow, y: CatchUpRow) => x.size - y.size || x.batchSize - y.batchSize;
  for (const row of [...c.rows].sort(byRow)) {
    lines.push(
      [
        String(row.size).padStart(9),
        String(row.batchSize).padStart(6),
        est(fixed(row.openMs, 1), row.estimated).padStart(8),
        String(row.generations).padStart(12),
        est(fixed(row.saveMs, 1), row.estimated).padStart(13),
        est(fixed(row.savesMs, 1), row.estimated).padStart(9),
        fixed(row.readApplyMs, 1).padStart(14),
        est((row.totalMs / 1000).toFixed(2), row.estimated).padStart(8),
        String(row.applied).padStart(8),
      ].join(' '),
    );
  }
  lines.push(
    '',
    `live: B open while A enrols one user (${EMBEDDINGS_PER_USER} embeddings), NOTIFY path, default batch; medians`,
    '     size  samples  A commit ms  B searchable ms  B saved ms',
  );
  for (const row of [...c.live].sort((x, y) => x.size - y.size)) {
    lines.push(
      [
        String(row.size).padStart(9),
        String(row.samples).padStart(8),
        fixed(row.commitMs, 1).padStart(12),
        est(fixed(row.searchableMs, 1), row.estimated).padStart(16),
        est(fixed(row.savedMs, 1), row.estimated).padStart(11),
      ].join(' '),
    );
  }
  lines.push(
    'searchable: from A commit returned to a search at B finding the new embedding; saved: to B telling its users-changed listener (after the generation is on disk)',
  );
  if (c.rows.some((row) => row.estimated)) {
    lines.push(
      `~: not run at this size (over ${SNAPSHOT_LIMIT_BYTES / 1024 / 1024} MiB of fp32: memory); scaled from the largest size run: open and one generation by size, the same number of generations, read+apply and searchable as measured`,
    );
  }
  lines.push('', `peak RSS of this run: ${r.peakRssMb.toFixed(0)} MB`);
  return lines.join('\n');
}
