// The CacheStore on Redis (ioredis), with the LLD's "Redis down -> system continues (degraded)".
// Every write lands in an in-memory copy first (the same keys, with expiry times), then in Redis
// when it is connected. Commands are never queued while Redis is away (no offline queue, one
// try per request), so an outage costs no memory; ioredis reconnects with backoff, and on
// reconnect the live part of the memory copy is written back with its remaining TTLs. Without a
// Redis URL the memory copy is all there is (mode "memory": a first try needs no Redis). Every key
// is under the appliance's prefix (applianceKeyPrefix), so appliances sharing a Redis keep apart.
import { Redis } from 'ioredis';

import { DEFAULT_APPLIANCE_ID } from '../config.js';
import { StoreInputError } from '../errors.js';
import { validateId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { CacheHealth, CacheStore, CameraHealth, CameraStatus } from './cache-store.js';

export interface RedisCacheStoreOptions {
  redisUrl?: string | undefined;
  /** Seconds a camera stays online after its last frame. */
  cameraTtlSeconds: number;
  /** Seconds a worker stays alive after its last heartbeat. */
  workerTtlSeconds: number;
  /** Prefix for every key, before the appliance's (tests isolate themselves this way). Default none. */
  keyPrefix?: string;
  /** The appliance whose health this is (storage's id rule); default DEFAULT_APPLIANCE_ID, whose keys are the LLD's names. */
  applianceId?: string;
  logger: Logger;
}

interface Entry {
  value: string;
  expiresAt: number | null;
}

const QUEUE_KEY = 'queue:recognition:size';

/**
 * Where an appliance's health keys live: `appliance:{id}:` before the LLD's names, so that two
 * appliances on one Redis never overwrite each other's camera health (issue 18). The default
 * appliance (a site with one) gets no prefix: its keys stay the LLD's `camera:{id}:last_seen` and so
 * on, which anything already reading them keeps finding. No collision either way: an LLD name never
 * starts with `appliance:`.
 */
export function applianceKeyPrefix(applianceId: string = DEFAULT_APPLIANCE_ID): string {
  validateId('appliance', applianceId);
  return applianceId === DEFAULT_APPLIANCE_ID ? '' : `appliance:${applianceId}:`;
}

export class RedisCacheStore implements CacheStore {
  private readonly memory = new Map<string, Entry>();
  private readonly redis: Redis | null;
  private lastError: string | null = null;
  private wasReady = false;
  /** A command failed (a timeout against a stopped server, say) and none has succeeded since. */
  private failing = false;
  private probing = false;
  /** The test prefix and the appliance's, before every key. */
  private readonly prefix: string;

  constructor(private readonly options: RedisCacheStoreOptions) {
    // Checked even without a Redis: a bad id is refused the same way wherever health is kept.
    this.prefix = (options.keyPrefix ?? '') + applianceKeyPrefix(options.applianceId);
    for (const [name, v] of [
      ['cameraTtlSeconds', options.cameraTtlSeconds],
      ['workerTtlSeconds', options.workerTtlSeconds],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new StoreInputError(`Expected ${name} to be an integer >= 1 but received ${v}`);
    }
    this.redis = options.redisUrl ? this.connect(options.redisUrl) : null;
  }

  health(): CacheHealth {
    if (!this.redis) return { mode: 'memory', degraded: false, lastError: null };
    return { mode: 'redis', degraded: this.redis.status !== 'ready' || this.failing, lastError: this.lastError };
  }

  async cameraSeen(cameraId: string, at: Date = new Date()): Promise<void> {
    validateId('camera', cameraId);
    await this.set(`camera:${cameraId}:last_seen`, String(at.getTime()), this.options.cameraTtlSeconds * 1000);
  }

  async setCameraStatus(cameraId: string, status: CameraStatus): Promise<void> {
    validateId('camera', cameraId);
    if (status !== 'online' && status !== 'offline') {
      throw new StoreInputError(`Expected status online or offline but received ${String(status)}`);
    }
    await this.set(`camera:${cameraId}:status`, status, null);
  }

  async cameraHealth(cameraId: string): Promise<CameraHealth> {
    validateId('camera', cameraId);
    const [seen, status] = await this.getMany([`camera:${cameraId}:last_seen`, `camera:${cameraId}:status`]);
    const lastSeen = seen ? new Date(Number(seen)) : null;
    return {
      cameraId,
      online: lastSeen !== null,
      lastSeen,
      status: status === 'online' || status === 'offline' ? status : null,
    };
  }

  async workerHeartbeat(workerId: string, at: Date = new Date()): Promise<void> {
    validateId('worker', workerId);
    await this.set(`worker:${workerId}:heartbeat`, String(at.getTime()), this.options.workerTtlSeconds * 1000);
  }

  async workerLastHeartbeat(workerId: string): Promise<Date | null> {
    validateId('worker', workerId);
    const [v] = await this.getMany([`worker:${workerId}:heartbeat`]);
    return v ? new Date(Number(v)) : null;
  }

  async setQueueSize(size: number): Promise<void> {
    if (!Number.isInteger(size) || size < 0)
      throw new StoreInputError(`Expected a queue size >= 0 but received ${size}`);
    await this.set(QUEUE_KEY, String(size), null);
  }

  async queueSize(): Promise<number> {
    const [v] = await this.getMany([QUEUE_KEY]);
    return v ? Number(v) : 0;
  }

  async close(): Promise<void> {
    if (!this.redis) return;
    await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  private connect(url: string): Redis {
    const redis = new Redis(url, {
      keyPrefix: this.prefix,
      // Health writes are never queued for later: an outage must not grow memory (STYLE.md).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      // A server that accepts the connection but stops answering (a hung host, SIGSTOP) must not
      // collect commands: each gives up after 1 s (a busy two-core host answers well within it),
      // and the socket's keep-alive notices the rest.
      commandTimeout: 1_000,
      keepAlive: 5_000,
      // Reconnect forever, backing off from 100 ms to 5 s.
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
    });
    redis.on('ready', () => {
      if (this.wasReady) this.options.logger.info('redis: reconnected, writing health back');
      this.wasReady = true;
      this.lastError = null;
      void this.writeBack();
    });
    redis.on('error', (error: Error) => {
      if (this.lastError !== error.message)
        this.options.logger.warn({ err: error }, 'redis unreachable: health kept in memory (degraded)');
      this.lastError = error.message;
    });
    return redis;
  }

  private async set(key: string, value: string, ttlMs: number | null): Promise<void> {
    this.memory.set(key, { value, expiresAt: ttlMs === null ? null : Date.now() + ttlMs });
    // While commands are failing, one in flight at a time probes the server; the rest skip it.
    if (this.redis?.status !== 'ready' || (this.failing && this.probing)) return;
    this.probing = this.failing;
    try {
      if (ttlMs === null) await this.redis.set(key, value);
      else await this.redis.set(key, value, 'PX', ttlMs);
      this.failing = false;
    } catch (error) {
      this.commandFailed(error);
    } finally {
      this.probing = false;
    }
  }

  private commandFailed(error: unknown): void {
    if (!this.failing)
      this.options.logger.warn({ err: error }, 'redis command failed: health kept in memory (degraded)');
    this.failing = true;
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  // While commands fail, writes reach only memory: memory is then the freshest copy, so it answers.
  private async getMany(keys: string[]): Promise<(string | null)[]> {
    if (this.redis?.status === 'ready' && !this.failing) {
      try {
        const values = await this.redis.mget(keys);
        this.failing = false;
        return values;
      } catch (error) {
        this.commandFailed(error);
      }
    }
    const now = Date.now();
    return keys.map((key) => {
      const e = this.memory.get(key);
      if (!e) return null;
      if (e.expiresAt !== null && e.expiresAt <= now) {
        this.memory.delete(key);
        return null;
      }
      return e.value;
    });
  }

  // Redis is back: what it missed (or lost, if it restarted empty) is written from memory, each
  // key with the TTL it has left; keys that expired meanwhile stay expired.
  private async writeBack(): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    const now = Date.now();
    const pipeline = redis.pipeline();
    for (const [key, e] of this.memory) {
      if (e.expiresAt === null) pipeline.set(key, e.value);
      else if (e.expiresAt > now) pipeline.set(key, e.value, 'PX', e.expiresAt - now);
      else this.memory.delete(key);
    }
    try {
      await pipeline.exec();
    } catch (error) {
      this.commandFailed(error);
    }
  }
}
