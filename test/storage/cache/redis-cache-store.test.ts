import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisCacheStore } from '../../../storage/cache/redis-cache-store.js';
import { InvalidIdError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { SHARED_REDIS_URL } from '../../helpers/shared-servers.js';
import { until } from '../../helpers/until.js';

const prefix = `fgtest:${randomBytes(4).toString('hex')}:`;
let raw: Redis;

beforeAll(() => {
  raw = new Redis(SHARED_REDIS_URL);
});
afterAll(async () => {
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length) await raw.del(...keys);
  await raw.quit();
});

async function ready(store: RedisCacheStore): Promise<void> {
  await until('redis ready', () => !store.health().degraded, 2_000);
  expect(store.health()).toMatchObject({ mode: 'redis', degraded: false });
}

describe('RedisCacheStore on the real Redis', () => {
  it("writes the LLD's keys, with TTLs on the heartbeat keys", async () => {
    const store = new RedisCacheStore({
      redisUrl: SHARED_REDIS_URL,
      cameraTtlSeconds: 30,
      workerTtlSeconds: 20,
      keyPrefix: prefix,
      logger: silentLogger,
    });
    await ready(store);
    const at = new Date('2026-11-24T08:00:00.000Z');
    await store.cameraSeen('cam_01', at);
    await store.setCameraStatus('cam_01', 'online');
    await store.workerHeartbeat('worker-1', at);
    await store.setQueueSize(7);
    expect(await raw.get(`${prefix}camera:cam_01:last_seen`)).toBe(String(at.getTime()));
    expect(await raw.get(`${prefix}camera:cam_01:status`)).toBe('online');
    expect(await raw.get(`${prefix}worker:worker-1:heartbeat`)).toBe(String(at.getTime()));
    expect(await raw.get(`${prefix}queue:recognition:size`)).toBe('7');
    const ttl = await raw.pttl(`${prefix}camera:cam_01:last_seen`);
    expect(ttl).toBeGreaterThan(29_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(await raw.pttl(`${prefix}worker:worker-1:heartbeat`)).toBeGreaterThan(19_000);
    expect(await raw.pttl(`${prefix}camera:cam_01:status`)).toBe(-1);
    expect(await store.cameraHealth('cam_01')).toEqual({
      cameraId: 'cam_01',
      online: true,
      lastSeen: at,
      status: 'online',
    });
    expect(await store.queueSize()).toBe(7);
    await store.close();
  });

  it('reads a camera whose last_seen expired as offline', async () => {
    const store = new RedisCacheStore({
      redisUrl: SHARED_REDIS_URL,
      cameraTtlSeconds: 1,
      workerTtlSeconds: 1,
      keyPrefix: prefix,
      logger: silentLogger,
    });
    await ready(store);
    await store.cameraSeen('cam_02');
    await store.workerHeartbeat('w2');
    expect((await store.cameraHealth('cam_02')).online).toBe(true);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await raw.exists(`${prefix}camera:cam_02:last_seen`)).toBe(0);
    expect(await store.cameraHealth('cam_02')).toMatchObject({ online: false, lastSeen: null });
    expect(await store.workerLastHeartbeat('w2')).toBeNull();
    await store.close();
  });

  it('refuses hostile camera and worker ids before they become keys', async () => {
    const store = new RedisCacheStore({
      redisUrl: SHARED_REDIS_URL,
      cameraTtlSeconds: 30,
      workerTtlSeconds: 20,
      keyPrefix: prefix,
      logger: silentLogger,
    });
    for (const id of ['../x', 'CON', 'a:b', 'x'.repeat(10_000), '']) {
      await expect(store.cameraSeen(id)).rejects.toBeInstanceOf(InvalidIdError);
      await expect(store.workerHeartbeat(id)).rejects.toBeInstanceOf(InvalidIdError);
    }
    await store.close();
  });
});

describe('RedisCacheStore without Redis configured', () => {
  it('keeps health in memory, with the same expiry, and says so', async () => {
    const store = new RedisCacheStore({ cameraTtlSeconds: 1, workerTtlSeconds: 1, logger: silentLogger });
    expect(store.health()).toEqual({ mode: 'memory', degraded: false, lastError: null });
    await store.cameraSeen('cam_03');
    await store.setCameraStatus('cam_03', 'online');
    expect((await store.cameraHealth('cam_03')).online).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await store.cameraHealth('cam_03')).toMatchObject({ online: false, status: 'online' });
    await store.close();
  });
});
