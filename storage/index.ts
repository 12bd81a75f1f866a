// The storage access layer's front door: opens the four stores from the validated config, in
// dependency order, and closes them in reverse. Callers (pipeline, API, CLI) get interfaces only.
// Code above storage/ imports this module, storage's top-level modules (checks, logger, errors,
// ids, redact, dates, config) and the store interfaces; the few implementation helpers it needs
// (atomic writes, the data-root lock, the leftover-image sweep, a lone DbStore for the events
// benchmark) are re-exported here, and eslint.config.js refuses any other import of storage/ from src/.
import type { CacheStore } from './cache/cache-store.js';
import { RedisCacheStore } from './cache/redis-cache-store.js';
import { dataPaths, type StorageConfig } from './config.js';
import { lockDataRoot } from './fs/data-root-lock.js';
import type { DbStore } from './db/db-store.js';
import { SqlDbStore } from './db/sql-db-store.js';
import type { EmbeddingStore } from './embeddings/embedding-store.js';
import { FlatEmbeddingStore } from './embeddings/flat-embedding-store.js';
import { type ChangeFeed, type ChangeFeedStats, ChangeFollower } from './embeddings/change-follower.js';
import type { ImageStore } from './images/image-store.js';
import { FsImageStore } from './images/fs-image-store.js';
import { type Logger, silentLogger } from './logger.js';

export interface Storage {
  db: DbStore;
  images: ImageStore;
  embeddings: EmbeddingStore;
  cache: CacheStore;
  /**
   * The change feed's follower (issue 18): applies every appliance's enrolments and deletions (from
   * the one database) to this appliance's index within seconds; its users-changed listener is how
   * the user directory hears of them; its stats are the lag /health shows.
   */
  changes: ChangeFeed;
  /** Closes in reverse order of opening: the follower, cache, embeddings (queued saves finish), database (spool flushed), then the data-root lock. */
  close(): Promise<void>;
}

export interface OpenStorageOptions {
  /** The embedding model in use (name + sha256 and its output dimension): the index holds only its vectors. */
  embeddingModel: { id: string; dim: number };
  logger?: Logger;
  /** A PostgreSQL schema to work in (tests, benchmarks). */
  schema?: string;
  /** The change follower's batch size and safety-net poll (defaults: 500 changes, 3 s). */
  changeFeed?: { batchSize?: number; pollMs?: number };
}

/** A database store alone (no data-root lock, images, index or cache), for the events benchmark. */
export interface OpenDbStoreOptions {
  /** A PostgreSQL server; without one, PGlite runs in `pgliteDir`. */
  databaseUrl?: string | undefined;
  pgliteDir: string;
  spoolDir: string;
  /** A PostgreSQL schema to work in (tests, benchmarks). */
  schema?: string | undefined;
  logger?: Logger;
  /** The appliance it writes as; default DEFAULT_APPLIANCE_ID. */
  applianceId?: string | undefined;
}

export async function openDbStore(options: OpenDbStoreOptions): Promise<DbStore> {
  return SqlDbStore.open({ ...options, logger: options.logger ?? silentLogger });
}

export async function openStorage(config: StorageConfig, options: OpenStorageOptions): Promise<Storage> {
  const logger = options.logger ?? silentLogger;
  const paths = dataPaths(config.dataRoot);
  const lock = await lockDataRoot(config.dataRoot);
  let db: SqlDbStore;
  let embeddings: FlatEmbeddingStore;
  try {
    db = await SqlDbStore.open({
      databaseUrl: config.databaseUrl,
      schema: options.schema,
      pgliteDir: paths.pglite,
      spoolDir: paths.spool,
      logger,
      // Given once, here: the store stamps it on every write (issue 18).
      applianceId: config.applianceId,
    });
  } catch (error) {
    await lock.release();
    throw error;
  }
  try {
    embeddings = await FlatEmbeddingStore.open({
      dir: paths.embeddings,
      model: options.embeddingModel,
      source: db,
      logger,
      followsChanges: true,
    });
  } catch (error) {
    await db.close();
    await lock.release();
    throw error;
  }
  // A snapshot served while the database was down is brought forward from its mark as soon as it
  // returns (the follower listens for that): the changes it missed, not a full comparison, which
  // would find it behind and rebuild. A snapshot without a mark is verified then.
  const changes = new ChangeFollower(db, embeddings, {
    logger,
    batchSize: options.changeFeed?.batchSize,
    pollMs: options.changeFeed?.pollMs,
  });
  await changes.start();
  const images = new FsImageStore(paths.images, logger);
  const cache = new RedisCacheStore({
    redisUrl: config.redisUrl,
    cameraTtlSeconds: config.cameraTtlSeconds,
    workerTtlSeconds: config.workerTtlSeconds,
    applianceId: config.applianceId,
    logger,
  });
  return {
    db,
    images,
    embeddings,
    cache,
    changes,
    async close() {
      await changes.close();
      await cache.close();
      await embeddings.close();
      await db.close();
      await lock.release();
    },
  };
}

export type { CacheStore, ChangeFeed, ChangeFeedStats, DbStore, EmbeddingStore, ImageStore, Logger, StorageConfig };
export type { Change, ChangeKind } from './db/db-store.js';
export { DEFAULT_APPLIANCE_ID, parseStorageConfig } from './config.js';
export * from './errors.js';
export { DataRootInUseError, type DataRootLock, LOCK_FILE, lockDataRoot } from './fs/data-root-lock.js';
export { fsyncDir, renameWithRetry, tempPathFor, writeFileAtomic } from './fs/atomic-write.js';
export { appendDurably } from './fs/durable-append.js';
export { type LeftoverSweep, sweepLeftoverImages } from './images/leftover-sweep.js';
export { isUuid } from './db/uuid7.js';
export { alreadyMarkedMessage } from './db/match-corrections.js';
export { dropPostgresSchema } from './db/sql-client.js';
export type {
  GroupQuery,
  GroupResolution,
  GroupStatus,
  NewReviewAction,
  NewUnknownFace,
  RemovedFace,
  ReviewAction,
  ReviewActionKind,
  UnknownFace,
  UnknownFaceRecords,
  UnknownGroup,
} from './db/unknown-face-records.js';
export { GROUP_STATUSES, parseGroupId } from './db/unknown-face-records.js';
export { ACCESS_VERDICTS, type AccessVerdictKind, type EventAccess } from './db/db-store.js';
