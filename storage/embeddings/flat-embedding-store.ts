// The EmbeddingStore on the native FlatIndex (exact FAISS inner product over normalised
// vectors). The database's face_embeddings rows are the truth; the snapshot in embeddings/ lets
// the appliance recognise while the database is down. At start the snapshot is compared with
// the database and rebuilt when stale; "FAISS crash -> reload from disk": an index that throws
// or disagrees with its id map is dropped and loaded again.
//
// An add counts once its snapshot is on disk (else it is undone and refused). A removal follows a
// deletion the database has already committed, so it takes effect in memory at once whatever the
// disk says: a deleted user is never matched again. A snapshot that could not be written (a full
// disk) is marked unsaved and written by the next change, verify(), a retry timer or close(); a
// restart before that finds it stale against the database and rebuilds it.
//
// With the change feed (issue 18), each snapshot generation also records the feed's mark it holds
// every change up to (applied_seq in stats.json), written with the index it describes; the
// follower (change-follower.ts) applies the changes after it here, a batch per generation.
import { FlatIndex, MAX_K } from '../../core/native/index.js';
import { SerialQueue } from '../../core/serial-queue.js';
import { isFiniteVector } from '../checks.js';
import type { EmbeddingRecord } from '../db/db-store.js';
import { StoreInputError } from '../errors.js';
import { validateId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { EmbeddingEntry, EmbeddingMatch, EmbeddingStats, EmbeddingStore } from './embedding-store.js';
import { type IdMapEntry, readSnapshot, writeSnapshot } from './snapshot.js';

/** The part of the DbStore the index is verified against and rebuilt from. */
export interface EmbeddingSource {
  health(): { available: boolean };
  embeddingIds(modelId: string): Promise<bigint[]>;
  listEmbeddings(modelId: string): Promise<EmbeddingRecord[]>;
}

export interface FlatEmbeddingStoreOptions {
  /** The data root's embeddings/ folder. */
  dir: string;
  /** The embedding model this index holds: vectors of another model or dimension are refused. */
  model: { id: string; dim: number };
  source?: EmbeddingSource | undefined;
  logger: Logger;
  /**
   * A change follower keeps this index current (openStorage): a snapshot that carries a mark is
   * not verified at open, the follower applies the changes after its mark instead (a full id
   * comparison at open would find it behind and rebuild). Without a mark it is verified as before.
   */
  followsChanges?: boolean;
}

/** One change as the follower applies it: vectors to add (those the index lacks), or ids to remove. */
export type ChangeStep = { add: EmbeddingEntry[] } | { removeIds: bigint[] };

/** How long an unsaved snapshot waits before the next try: a full disk is not freed in milliseconds. */
const SAVE_RETRY_MS = 30_000;

/** How far from 1 a norm may be: float32 normalisation lands within ~1e-6; 1e-3 catches an unnormalised vector. */
const UNIT_TOLERANCE = 1e-3;

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) * (v[i] as number);
  return Math.sqrt(s);
}

function sameIds(a: Iterable<bigint>, b: bigint[]): boolean {
  const set = new Set(a);
  return set.size === b.length && b.every((id) => set.has(id));
}

export class FlatEmbeddingStore implements EmbeddingStore {
  readonly modelId: string;
  readonly dim: number;
  private index: FlatIndex;
  private idMap = new Map<bigint, IdMapEntry>();
  private generation = 0;
  private savedAt: string | null = null;
  private loadedFrom: EmbeddingStats['loadedFrom'] = 'empty';
  private verified = false;
  /** Loads, changes, saves and rebuilds, one at a time in call order. */
  private readonly queue = new SerialQueue();
  /** Bumped by every change to the index or its id map (see searchOnce). */
  private version = 0;
  private reloading: Promise<void> | null = null;
  /** Ids removed from memory that the snapshot on disk still holds (its save failed). */
  private unsavedRemovals = new Set<bigint>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** The change feed's mark this index holds every change up to; null: never compared with the feed. */
  private appliedSeq: bigint | null = null;
  /** Changes applied in memory whose snapshot could not be written (a full disk): retried like removals. */
  private unsavedChanges = false;
  /** The mark the snapshot on disk holds (appliedSeq may be ahead of it after batches that changed nothing). */
  private savedSeq: bigint | null = null;

  private constructor(private readonly options: FlatEmbeddingStoreOptions) {
    this.modelId = options.model.id;
    this.dim = options.model.dim;
    this.index = FlatIndex.create(this.dim);
  }

  static async open(options: FlatEmbeddingStoreOptions): Promise<FlatEmbeddingStore> {
    const store = new FlatEmbeddingStore(options);
    const loaded = await store.queue.run(() => store.loadFromDisk());
    // A marked snapshot is the state at its mark: the follower brings it forward from there.
    if (options.followsChanges && loaded === 'loaded' && store.appliedSeq !== null) return store;
    const { verified } = await store.verify();
    if (loaded === 'unusable' && !verified) {
      options.logger.error(
        'no usable embedding snapshot and the database is down: the index is empty, every face is unknown',
      );
    }
    return store;
  }

  async search(vector: Float32Array, k: number): Promise<EmbeddingMatch[]> {
    if (!isFiniteVector(vector) || vector.length !== this.dim) {
      throw new StoreInputError(
        `Expected a Float32Array of ${this.dim} finite numbers but received ${String(vector?.constructor?.name)} of length ${String(vector?.length)}`,
      );
    }
    this.requireUnit('the query', vector);
    if (!Number.isInteger(k) || k < 1 || k > MAX_K)
      throw new StoreInputError(`Expected k in 1..${MAX_K} but received ${k}`);
    try {
      return await this.searchOnce(vector, k);
    } catch (error) {
      // The input was checked above, so any failure here is the index's own. Searches failing
      // together share one reload.
      this.options.logger.error({ err: error }, 'embedding index failed: reloading it from disk');
      this.reloading ??= this.queue
        .run(() => this.reload())
        .finally(() => {
          this.reloading = null;
        });
      await this.reloading;
      return this.searchOnce(vector, k);
    }
  }

  async add(entries: EmbeddingEntry[]): Promise<void> {
    entries.forEach((e, i) => this.checkEntry(e, i));
    return this.queue.run(async () => {
      // An entry already present as the same row (a verify() that rebuilt from the database
      // between the row's insert and this add) is done; the same id for another face is an error.
      const fresh = entries.filter((e) => {
        const known = this.idMap.get(e.embeddingId);
        if (!known) return true;
        if (known.userId === e.userId && known.image === e.image) return false;
        throw new StoreInputError(
          `Expected new embedding ids but ${e.embeddingId} is already in the index for ${known.userId}/${known.image}`,
        );
      });
      if (fresh.length === 0) return;
      entries = fresh;
      const ids = new BigInt64Array(entries.map((e) => e.embeddingId));
      const vectors = new Float32Array(entries.length * this.dim);
      entries.forEach((e, i) => vectors.set(e.vector, i * this.dim));
      this.index.add(vectors, ids);
      entries.forEach((e) => this.idMap.set(e.embeddingId, { userId: e.userId, image: e.image }));
      this.version++;
      try {
        await this.save();
      } catch (error) {
        // Undone in memory only: reloading the last generation from disk would bring back users
        // removed since (their removal may be what is still unsaved).
        this.index.remove(ids);
        entries.forEach((e) => this.idMap.delete(e.embeddingId));
        this.version++;
        throw error;
      }
    });
  }

  async removeUser(userId: string): Promise<number> {
    validateId('user', userId);
    return this.removeWhere((e) => e.userId === userId);
  }

  removeIds(ids: bigint[]): Promise<number> {
    const wanted = new Set(ids);
    return this.removeWhere((_e, id) => wanted.has(id));
  }

  rebuild(): Promise<void> {
    return this.queue.run(() => this.rebuildFromSource());
  }

  verify(): Promise<{ rebuilt: boolean; verified: boolean }> {
    return this.queue.run(async () => {
      const source = this.options.source;
      if (!source?.health().available) {
        this.verified = false;
        return { rebuilt: false, verified: false };
      }
      const ids = await source.embeddingIds(this.modelId);
      if (sameIds(this.idMap.keys(), ids)) {
        this.verified = true;
        if (this.unsaved()) await this.saveOrKeepUnsaved();
        return { rebuilt: false, verified: true };
      }
      this.options.logger.warn(
        { index: this.idMap.size, database: ids.length },
        'embedding snapshot differs from the database: rebuilding it',
      );
      await this.rebuildFromSource();
      return { rebuilt: true, verified: true };
    });
  }

  /** The change feed's mark this index (in memory) holds every change up to; null: never compared with the feed. */
  changeMark(): bigint | null {
    return this.appliedSeq;
  }

  /**
   * The follower's apply: `steps` in order (adds of ids already present and removals of ids absent
   * change nothing, so a change applied twice leaves the same index), then one snapshot generation
   * carrying `mark`. `from` is the mark the changes were read after: when the index's mark is no
   * longer that (a reload from disk went back to an older generation) nothing is applied and
   * `stale` says to read again. A snapshot that cannot be written keeps the changes in memory (the
   * index is a cache of the database) and is retried; the disk keeps the older mark with its older
   * index, so a restart before that re-applies from there.
   */
  applyChanges(
    steps: ChangeStep[],
    from: bigint | null,
    mark: bigint,
  ): Promise<{ added: number; removed: number; stale: boolean }> {
    steps.forEach((step) => {
      if ('add' in step) step.add.forEach((e, i) => this.checkEntry(e, i));
    });
    return this.queue.run(async () => {
      if (this.appliedSeq !== from) return { added: 0, removed: 0, stale: true };
      let added = 0;
      let removed = 0;
      for (const step of steps) {
        if ('add' in step) {
          const fresh = step.add.filter((e) => {
            const known = this.idMap.get(e.embeddingId);
            if (!known) return true;
            if (known.userId === e.userId && known.image === e.image) return false;
            throw new StoreInputError(
              `Expected embedding ${e.embeddingId} to be ${e.userId}/${e.image} but the index holds ${known.userId}/${known.image}`,
            );
          });
          if (fresh.length === 0) continue;
          const vectors = new Float32Array(fresh.length * this.dim);
          fresh.forEach((e, i) => vectors.set(e.vector, i * this.dim));
          this.index.add(vectors, new BigInt64Array(fresh.map((e) => e.embeddingId)));
          fresh.forEach((e) => this.idMap.set(e.embeddingId, { userId: e.userId, image: e.image }));
          added += fresh.length;
        } else {
          const gone = step.removeIds.filter((id) => this.idMap.has(id));
          if (gone.length === 0) continue;
          this.index.remove(new BigInt64Array(gone));
          for (const id of gone) {
            this.idMap.delete(id);
            this.unsavedRemovals.add(id);
          }
          removed += gone.length;
        }
      }
      this.appliedSeq = mark;
      // A batch that changed nothing here (this appliance's own enrolments and deletions, already
      // applied; user-only changes) writes no generation: a whole snapshot for a mark alone costs
      // seconds at a large gallery. The mark goes to disk with the next generation; a crash before
      // that re-applies those changes, which changes nothing again.
      if (added + removed === 0) return { added, removed, stale: false };
      this.version++;
      this.unsavedChanges = true;
      await this.saveOrKeepUnsaved();
      return { added, removed, stale: false };
    });
  }

  /**
   * verify(), then the mark set to `mark` (the latest seq read before it) in the generation that
   * verify wrote, or in a new one: the index equals the database as of at least `mark`. Not
   * verified (the database down): the mark is left as it is.
   */
  verifyAt(mark: bigint): Promise<{ rebuilt: boolean; verified: boolean }> {
    return this.queue.run(async () => {
      const source = this.options.source;
      if (!source?.health().available) {
        this.verified = false;
        return { rebuilt: false, verified: false };
      }
      const ids = await source.embeddingIds(this.modelId);
      this.appliedSeq = mark;
      if (sameIds(this.idMap.keys(), ids)) {
        this.verified = true;
        this.unsavedChanges = true;
        await this.saveOrKeepUnsaved();
        return { rebuilt: false, verified: true };
      }
      this.options.logger.warn(
        { index: this.idMap.size, database: ids.length, mark: mark.toString() },
        'embedding snapshot differs from the database: rebuilding it',
      );
      await this.rebuildFromSource();
      return { rebuilt: true, verified: true };
    });
  }

  /** The follower found no change after the mark: the index is the database's state (as verify says it). */
  noteCaughtUp(): void {
    this.verified = true;
  }

  stats(): EmbeddingStats {
    return {
      modelId: this.modelId,
      dim: this.dim,
      count: this.index.size,
      users: new Set([...this.idMap.values()].map((e) => e.userId)).size,
      generation: this.generation,
      savedAt: this.savedAt,
      loadedFrom: this.loadedFrom,
      verified: this.verified,
      indexBytes: this.index.memory().fp32Bytes,
      fp16Bytes: this.index.memory().fp16Bytes,
      searchMode: this.index.searchMode,
    };
  }

  /** Resolves once every queued change is on disk (an unsaved snapshot is tried once more). */
  async close(): Promise<void> {
    await this.queue.run(async () => {
      this.cancelRetry();
      // A mark advanced by batches that changed nothing is saved once here, so a restart resumes
      // after them rather than re-reading them.
      if (this.unsaved() || this.savedSeq !== this.appliedSeq) await this.saveOrKeepUnsaved();
      this.cancelRetry();
    });
  }

  private async searchOnce(vector: Float32Array, k: number): Promise<EmbeddingMatch[]> {
    const index = this.index;
    const idMap = this.idMap;
    const version = this.version;
    const { scores, ids } = await index.search(vector, k);
    const matches: EmbeddingMatch[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as bigint;
      if (id < 0n) break;
      const entry = idMap.get(id);
      // Removed while this search ran (a user deleted mid-search): not a match any more.
      if (!entry && version !== this.version) continue;
      if (!entry) throw new Error(`the index returned id ${id}, which its id map does not hold`);
      matches.push({ userId: entry.userId, image: entry.image, score: scores[i] as number, embeddingId: id });
    }
    return matches;
  }

  private checkEntry(e: EmbeddingEntry, i: number): void {
    if (e.modelId !== this.modelId) {
      throw new StoreInputError(`Expected entries[${i}] from model ${this.modelId} but received one from ${e.modelId}`);
    }
    if (!(e.vector instanceof Float32Array) || e.vector.length !== this.dim) {
      throw new StoreInputError(
        `Expected entries[${i}].vector of dim ${this.dim} but received length ${String(e.vector?.length)}`,
      );
    }
    this.requireUnit(`entries[${i}].vector`, e.vector);
    if (typeof e.embeddingId !== 'bigint' || e.embeddingId < 0n) {
      throw new StoreInputError(
        `Expected entries[${i}].embeddingId to be a bigint >= 0 but received ${String(e.embeddingId)}`,
      );
    }
    validateId('user', e.userId);
    if (typeof e.image !== 'string' || e.image.length === 0)
      throw new StoreInputError(`Expected entries[${i}].image to be a file name`);
  }

  // The LLD: normalised vectors only. An unnormalised one scores every query by its length, not
  // its direction: a false positive waiting to happen.
  private requireUnit(what: string, v: Float32Array): void {
    const n = norm(v);
    if (!(Math.abs(n - 1) <= UNIT_TOLERANCE)) {
      throw new StoreInputError(`Expected ${what} to be L2-normalised (norm 1) but its norm is ${n}`);
    }
  }

  private removeWhere(match: (e: IdMapEntry, id: bigint) => boolean): Promise<number> {
    return this.queue.run(async () => {
      const gone = [...this.idMap].filter(([id, e]) => match(e, id));
      if (gone.length === 0) return 0;
      this.index.remove(new BigInt64Array(gone.map(([id]) => id)));
      for (const [id] of gone) this.idMap.delete(id);
      this.version++;
      for (const [id] of gone) this.unsavedRemovals.add(id);
      await this.saveOrKeepUnsaved();
      return gone.length;
    });
  }

  private unsaved(): boolean {
    return this.unsavedRemovals.size > 0 || this.unsavedChanges;
  }

  private async save(): Promise<void> {
    const stats = await writeSnapshot(
      this.options.dir,
      this.index,
      this.idMap,
      this.modelId,
      this.generation + 1,
      this.appliedSeq,
    );
    this.generation = stats.generation;
    this.savedAt = stats.saved_at;
    this.savedSeq = this.appliedSeq;
    this.unsavedRemovals.clear();
    this.unsavedChanges = false;
    this.cancelRetry();
  }

  // For removals (and retries of them): memory stays as it is, the snapshot is written later.
  private async saveOrKeepUnsaved(): Promise<void> {
    try {
      await this.save();
    } catch (error) {
      const { code, path } = error as NodeJS.ErrnoException;
      this.options.logger.warn(
        { err: error, code, path, dir: this.options.dir, retryInMs: SAVE_RETRY_MS },
        'embedding snapshot not saved: removed embeddings are gone from the index in memory; the snapshot is retried (a restart rebuilds it from the database)',
      );
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.queue.run(async () => {
        if (this.unsaved()) await this.saveOrKeepUnsaved();
      });
    }, SAVE_RETRY_MS);
    this.retryTimer.unref();
  }

  private cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // Loads the last complete generation for this model: 'none' on a fresh data root.
  private async loadFromDisk(): Promise<'loaded' | 'none' | 'unusable'> {
    const read = await readSnapshot(this.options.dir);
    if (!read.ok) {
      if (read.reason === 'no stats.json') return 'none';
      this.options.logger.warn({ reason: read.reason }, 'embedding snapshot unusable');
      return 'unusable';
    }
    const { snapshot } = read;
    this.generation = snapshot.stats.generation;
    if (snapshot.stats.model_id !== this.modelId || snapshot.stats.dim !== this.dim) {
      this.options.logger.warn(
        { snapshot: snapshot.stats.model_id, model: this.modelId },
        'embedding snapshot is of another model: it will be rebuilt',
      );
      return 'unusable';
    }
    if (read.recovered)
      this.options.logger.info({ generation: this.generation }, 'embedding snapshot: finished an interrupted save');
    this.index = snapshot.index;
    this.idMap = snapshot.idMap;
    this.version++;
    this.savedAt = snapshot.stats.saved_at;
    this.appliedSeq = snapshot.stats.applied_seq === undefined ? null : BigInt(snapshot.stats.applied_seq);
    this.savedSeq = this.appliedSeq;
    this.unsavedChanges = false;
    this.loadedFrom = 'snapshot';
    return 'loaded';
  }

  // FAISS crash -> reload from disk; when the disk has nothing usable, from the database. An
  // unsaved snapshot still holds removed users: the database is asked first then, and without
  // it the removed ids are taken out of what the disk gave.
  private async reload(): Promise<void> {
    if (this.unsaved() && this.options.source?.health().available) {
      await this.rebuildFromSource();
      return;
    }
    if ((await this.loadFromDisk()) === 'loaded') {
      const stale = [...this.unsavedRemovals].filter((id) => this.idMap.has(id));
      if (stale.length > 0) {
        this.index.remove(new BigInt64Array(stale));
        for (const id of stale) this.idMap.delete(id);
        this.version++;
      }
      return;
    }
    if (this.options.source?.health().available) {
      await this.rebuildFromSource();
      return;
    }
    this.options.logger.error(
      'no usable embedding snapshot and the database is down: the index is empty, every face is unknown',
    );
    this.index = FlatIndex.create(this.dim);
    this.idMap = new Map();
    this.version++;
    this.loadedFrom = 'empty';
  }

  private async rebuildFromSource(): Promise<void> {
    const source = this.options.source;
    if (!source) throw new StoreInputError('cannot rebuild the embedding index: no database configured');
    const records = await source.listEmbeddings(this.modelId);
    const index = FlatIndex.create(this.dim);
    const idMap = new Map<bigint, IdMapEntry>();
    const usable = records.filter(
      (r) => r.vector.length === this.dim && Math.abs(norm(r.vector) - 1) <= UNIT_TOLERANCE,
    );
    if (usable.length !== records.length) {
      this.options.logger.warn(
        { skipped: records.length - usable.length },
        'face_embeddings rows of another dimension or not normalised: skipped',
      );
    }
    const vectors = new Float32Array(usable.length * this.dim);
    usable.forEach((r, i) => {
      vectors.set(r.vector, i * this.dim);
      idMap.set(r.id, { userId: r.userId, image: r.image });
    });
    index.add(vectors, new BigInt64Array(usable.map((r) => r.id)));
    // The mark stays: the database's rows are at least as new as it, and the changes after it
    // re-applied to them change nothing (ids are never reused).
    const stats = await writeSnapshot(
      this.options.dir,
      index,
      idMap,
      this.modelId,
      this.generation + 1,
      this.appliedSeq,
    );
    this.index = index;
    this.idMap = idMap;
    this.version++;
    this.generation = stats.generation;
    this.savedAt = stats.saved_at;
    this.savedSeq = this.appliedSeq;
    this.unsavedRemovals.clear();
    this.unsavedChanges = false;
    this.cancelRetry();
    this.loadedFrom = 'database';
    this.verified = true;
    this.options.logger.info(
      { count: usable.length, generation: this.generation },
      'embedding index rebuilt from the database',
    );
  }
}
