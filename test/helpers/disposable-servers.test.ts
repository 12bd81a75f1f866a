// Proves the disposable-server harness against real redis-server and PostgreSQL processes: they
// start, answer, refuse connections after kill(), come back on the same port after restart(), and
// stop() removes their temp dirs.
import { existsSync } from 'node:fs';
import net from 'node:net';

import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

import { startPostgres, type DisposablePostgres } from './disposable-postgres.js';
import { startRedis, type DisposableRedis } from './disposable-redis.js';
import { freePort, portRefuses } from './free-port.js';

/**
 * An ioredis client that fails instead of reconnecting or queueing, so refusals surface at once.
 * ioredis reports the socket error (e.g. ECONNREFUSED) as an 'error' event, collected in `errors`;
 * connect() itself then rejects with "Connection is closed.".
 */
function redisClient(url: string): Redis & { errors: NodeJS.ErrnoException[] } {
  const client = Object.assign(
    new Redis(url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    }),
    { errors: [] as NodeJS.ErrnoException[] },
  );
  client.on('error', (error: NodeJS.ErrnoException) => client.errors.push(error));
  return client;
}

async function pgConnect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {
    // Surfaced through connect() and query().
  });
  await client.connect();
  return client;
}

describe('freePort', () => {
  it('returns a loopback port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65_536);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

describe('disposable Redis', () => {
  const started: DisposableRedis[] = [];
  afterAll(async () => {
    await Promise.all(started.map((server) => server.stop()));
  });

  it('starts, answers, refuses after kill, answers again on the same port after restart, and stop removes its dir', async () => {
    const redis = await startRedis();
    started.push(redis);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.port).not.toBe(6379);
    expect(existsSync(redis.dir)).toBe(true);

    const first = redisClient(redis.url);
    await first.connect();
    expect(await first.ping()).toBe('PONG');
    await first.set('fg:probe', 'before-kill');
    expect(await first.get('fg:probe')).toBe('before-kill');

    await redis.kill();
    // The open connection is dead, and new ones are refused.
    await expect(first.ping()).rejects.toThrow();
    first.disconnect();
    const refused = redisClient(redis.url);
    await expect(refused.connect()).rejects.toThrow();
    expect(refused.errors.map((error) => error.code)).toContain('ECONNREFUSED');
    refused.disconnect();
    await redis.kill(); // Killing a dead server is a no-op.

    await redis.restart();
    const second = redisClient(redis.url);
    await second.connect();
    expect(await second.ping()).toBe('PONG');
    // Persistence is off: the restarted server starts empty.
    expect(await second.get('fg:probe')).toBeNull();
    await second.quit();

    await redis.stop();
    expect(existsSync(redis.dir)).toBe(false);
    expect(await portRefuses(redis.port)).toBe(true);
    await redis.stop(); // Idempotent.
  });
});

describe('disposable PostgreSQL', () => {
  const started: DisposablePostgres[] = [];
  afterAll(async () => {
    await Promise.all(started.map((server) => server.stop()));
  });

  it('starts, keeps committed data across kill and restart on the same port, refuses while killed, and stop removes its dir', async () => {
    const postgres = await startPostgres();
    started.push(postgres);
    expect(postgres.url).toBe(`postgres://postgres@127.0.0.1:${postgres.port}/postgres`);
    expect(postgres.port).not.toBe(5432);
    expect(existsSync(postgres.dir)).toBe(true);

    const setup = await pgConnect(postgres.url);
    expect((await setup.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await setup.query('CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)');
    await setup.query("INSERT INTO probe VALUES (1, 'before kill')");
    await setup.end();

    // A client connected while the server is killed loses its connection.
    const victim = await pgConnect(postgres.url);
    await postgres.kill();
    await expect(victim.query('SELECT 1')).rejects.toThrow();
    await victim.end().catch(() => undefined);
    // New connections are refused.
    await expect(pgConnect(postgres.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await postgres.kill(); // Killing a dead server is a no-op.

    await postgres.restart();
    const after = await pgConnect(postgres.url);
    expect((await after.query('SELECT id, note FROM probe')).rows).toEqual([{ id: 1, note: 'before kill' }]);
    await after.end();

    // A second crash and restart work the same way.
    await postgres.kill();
    expect(await portRefuses(postgres.port)).toBe(true);
    await postgres.restart();
    const again = await pgConnect(postgres.url);
    expect((await again.query('SELECT count(*)::int AS n FROM probe')).rows).toEqual([{ n: 1 }]);
    await again.end();

    await postgres.stop();
    expect(existsSync(postgres.dir)).toBe(false);
    await expect(pgConnect(postgres.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await postgres.stop(); // Idempotent.
  });

  it('runs two clusters side by side on different ports', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    started.push(a, b);
    expect(a.port).not.toBe(b.port);
    await b.kill();
    const client = await pgConnect(a.url);
    expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    await Promise.all([a.stop(), b.stop()]);
    expect(existsSync(a.dir)).toBe(false);
    expect(existsSync(b.dir)).toBe(false);
  });
});
