import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisCacheStore } from '../../../storage/cache/redis-cache-store.js';
import { silentLogger } from '../../../storage/logger.js';
import { type DisposableRedis, startRedis } from '../../helpers/disposable-redis.js';
import { until } from '../../helpers/until.js';

let server: DisposableRedis;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

describe('Redis outage (a disposable server, killed mid-run)', () => {
  it('never throws, reports degraded, serves health from memory, and writes it back when Redis returns', async () => {
    const store = new RedisCacheStore({
      redisUrl: server.url,
      cameraTtlSeconds: 60,
      workerTtlSeconds: 60,
      logger: silentLogger,
    });
    await until('redis ready', () => !store.health().degraded);
    await store.cameraSeen('cam_01');
    await store.setCameraStatus('cam_01', 'online');
    await store.setQueueSize(3);

    await server.kill();
    await until('the store to notice', () => store.health().degraded);
    expect(store.health()).toMatchObject({ mode: 'redis', degraded: true });

    // 10,000 writes while Redis is gone all settle at once: nothing waits in an offline queue.
    const at = new Date();
    await Promise.all(
      Array.from({ length: 10_000 }, (_, i) =>
        i % 2 ? store.workerHeartbeat('worker-1', at) : store.cameraSeen('cam_02', at),
      ),
    );
    await store.setQueueSize(42);
    expect(await store.cameraHealth('cam_02')).toMatchObject({ online: true, lastSeen: at });
    expect(await store.queueSize()).toBe(42);
    expect(await store.workerLastHeartbeat('worker-1')).toEqual(at);

    await server.restart(); // a restarted Redis is empty (no persistence)
    await until('the store to reconnect', () => !store.health().degraded);
    const raw = new Redis(server.url);
    await until('the write-back', async () => (await raw.get('queue:recognition:size')) === '42');
    expect(await raw.get('camera:cam_02:last_seen')).toBe(String(at.getTime()));
    expect(await raw.get('camera:cam_01:status')).toBe('online');
    const ttl = await raw.pttl('worker:worker-1:heartbeat');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await raw.quit();
    await store.close();
  });

  it('does not wait on a Redis that stopped answering: commands time out, health says degraded', async () => {
    const store = new RedisCacheStore({
      redisUrl: server.url,
      cameraTtlSeconds: 60,
      workerTtlSeconds: 60,
      logger: silentLogger,
    });
    await until('redis ready', () => !store.health().degraded);
    server.pause();
    try {
      // 2,000 writes to a hung server all settle (no queue grows), and the store reports it.
      await Promise.all(Array.from({ length: 2_000 }, () => store.cameraSeen('cam_04')));
      expect(store.health()).toMatchObject({ mode: 'redis', degraded: true });
      expect((await store.cameraHealth('cam_04')).online).toBe(true);
    } finally {
      server.resume();
    }
    await store.setQueueSize(1);
    await until('the store to recover', () => !store.health().degraded);
    await store.close();
  });

  it('lets camera keys expire while Redis is down, so the camera reads offline', async () => {
    const store = new RedisCacheStore({
      redisUrl: server.url,
      cameraTtlSeconds: 1,
      workerTtlSeconds: 1,
      logger: silentLogger,
    });
    await until('redis ready', () => !store.health().degraded);
    await store.cameraSeen('cam_03');
    await server.kill();
    await until('the store to notice', () => store.health().degraded);
    expect((await store.cameraHealth('cam_03')).online).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await store.cameraHealth('cam_03')).toMatchObject({ online: false, lastSeen: null });
    await server.restart();
    await until('the store to reconnect', () => !store.health().degraded);
    // Expired while away: not written back, still offline.
    expect(await store.cameraHealth('cam_03')).toMatchObject({ online: false });
    await store.close();
  });
});
