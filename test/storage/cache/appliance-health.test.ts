// Health keys of several appliances on one Redis (issue 18): each appliance's keys live under
// `appliance:{id}:`, so two appliances that both have a camera cam_01 and a worker pipeline-1 never
// overwrite each other's health; the single appliance (the default id) keeps the LLD's key names as
// they are. Against the shared Redis.
import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applianceKeyPrefix, RedisCacheStore } from '../../../storage/cache/redis-cache-store.js';
import { DEFAULT_APPLIANCE_ID } from '../../../storage/config.js';
import { InvalidIdError } from '../../../storage/errors.js';
import { silentLogger } from '../../../storage/logger.js';
import { SHARED_REDIS_URL } from '../../helpers/shared-servers.js';
import { until } from '../../helpers/until.js';

const prefix = `fgtest:${randomBytes(4).toString('hex')}:`;
let raw: Redis;
const stores: RedisCacheStore[] = [];

beforeAll(() => {
  raw = new Redis(SHARED_REDIS_URL);
});
afterAll(async () => {
  for (const s of stores) await s.close();
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length) await raw.del(...keys);
  await raw.quit();
});

async function open(applianceId?: string): Promise<RedisCacheStore> {
  const store = new RedisCacheStore({
    redisUrl: SHARED_REDIS_URL,
    cameraTtlSeconds: 30,
    workerTtlSeconds: 20,
    keyPrefix: prefix,
    logger: silentLogger,
    ...(applianceId === undefined ? {} : { applianceId }),
  });
  stores.push(store);
  await until('redis ready', () => !store.health().degraded, 2_000);
  return store;
}

describe('two appliances on one Redis', () => {
  it('keep their camera and worker health apart, each under its own appliance prefix', async () => {
    const a = await open('site-a');
    const b = await open('site-b');
    const seenA = new Date('2026-12-02T09:00:00.000Z');
    const seenB = new Date('2026-12-02T09:00:05.000Z');
    await a.cameraSeen('cam_01', seenA);
    await a.setCameraStatus('cam_01', 'online');
    await b.cameraSeen('cam_01', seenB);
    await b.setCameraStatus('cam_01', 'offline');
    await a.workerHeartbeat('pipeline-1', seenA);
    await b.workerHeartbeat('pipeline-1', seenB);
    await a.setQueueSize(3);
    await b.setQueueSize(9);

    expect(await a.cameraHealth('cam_01')).toEqual({
      cameraId: 'cam_01',
      online: true,
      lastSeen: seenA,
      status: 'online',
    });
    expect(await b.cameraHealth('cam_01')).toEqual({
      cameraId: 'cam_01',
      online: true,
      lastSeen: seenB,
      status: 'offline',
    });
    expect(await a.workerLastHeartbeat('pipeline-1')).toEqual(seenA);
    expect(await b.workerLastHeartbeat('pipeline-1')).toEqual(seenB);
    expect([await a.queueSize(), await b.queueSize()]).toEqual([3, 9]);

    // In Redis itself: the LLD's names under each appliance's prefix, with their TTLs.
    expect(await raw.get(`${prefix}appliance:site-a:camera:cam_01:status`)).toBe('online');
    expect(await raw.get(`${prefix}appliance:site-b:camera:cam_01:status`)).toBe('offline');
    expect(await raw.get(`${prefix}appliance:site-b:camera:cam_01:last_seen`)).toBe(String(seenB.getTime()));
    expect(await raw.get(`${prefix}appliance:site-a:worker:pipeline-1:heartbeat`)).toBe(String(seenA.getTime()));
    expect(await raw.pttl(`${prefix}appliance:site-a:worker:pipeline-1:heartbeat`)).toBeGreaterThan(19_000);
    expect(await raw.get(`${prefix}appliance:site-b:queue:recognition:size`)).toBe('9');
    expect(await raw.exists(`${prefix}camera:cam_01:status`)).toBe(0);
  });

  it('keeps the LLD’s key names for the single appliance (the default id), apart from the others', async () => {
    expect(applianceKeyPrefix()).toBe('');
    expect(applianceKeyPrefix(DEFAULT_APPLIANCE_ID)).toBe('');
    expect(applianceKeyPrefix('site-a')).toBe('appliance:site-a:');
    const single = await open();
    const named = await open('site-a');
    const at = new Date('2026-12-02T10:00:00.000Z');
    await single.cameraSeen('cam_01', at);
    await single.setCameraStatus('cam_01', 'online');
    await single.workerHeartbeat('pipeline-1', at);
    await named.setCameraStatus('cam_01', 'offline');
    expect(await raw.get(`${prefix}camera:cam_01:last_seen`)).toBe(String(at.getTime()));
    expect(await raw.get(`${prefix}camera:cam_01:status`)).toBe('online');
    expect(await raw.get(`${prefix}worker:pipeline-1:heartbeat`)).toBe(String(at.getTime()));
    expect(await raw.get(`${prefix}appliance:site-a:camera:cam_01:status`)).toBe('offline');
    expect((await single.cameraHealth('cam_01')).status).toBe('online');
  });

  it('refuses an appliance id that breaks the id rule before it becomes a key, with or without Redis', () => {
    for (const redisUrl of [SHARED_REDIS_URL, undefined]) {
      for (const bad of ['../x', 'a:b', 'CON', '']) {
        expect(
          () =>
            new RedisCacheStore({
              redisUrl,
              cameraTtlSeconds: 30,
              workerTtlSeconds: 20,
              applianceId: bad,
              logger: silentLogger,
            }),
        ).toThrow(InvalidIdError);
      }
    }
    expect(() => applianceKeyPrefix('a:b')).toThrow(
      `Expected an appliance id of 1-64 letters, digits, '_', '-' or '.' (not first), not a reserved Windows name but received "a:b"`,
    );
  });
});
