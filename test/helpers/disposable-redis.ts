// A throwaway redis-server on a free loopback port, for fault tests that kill Redis mid-run.
// Never touches the shared Redis on 6379 (shared-servers.ts).
//
// Each server runs in its own process group from a temp dir under os.tmpdir() named
// facegate-redis-<our pid>-*, with persistence off (--save '' --appendonly no): a restart starts empty.
// Cleanup: stop() in afterAll/finally; a process 'exit' hook SIGKILLs whatever is left; when
// setpriv exists (util-linux) the server also gets SIGKILL from the kernel if the worker that started
// it dies (--pdeathsig); temp dirs left by dead workers are removed on the next start.
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  DisposableProcess,
  dyingWithUs,
  launchOnFreePort,
  runDir,
  sweepStaleDirs,
  type DisposableServer,
} from './disposable-process.js';

/** A disposable redis-server; "answers" means it answers PING. */
export interface DisposableRedis extends DisposableServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** The server's temp dir (its --dir and redis.log); removed by stop(). */
  readonly dir: string;
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung host). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

const READY_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 10_000;
const DIR_PREFIX = 'facegate-redis-';

function redisServerBinary(): string {
  const fromEnv = process.env.FACEGATE_REDIS_SERVER;
  if (fromEnv) return fromEnv;
  return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
}

/** Sends PING over a raw TCP connection; true when the answer is +PONG. */
function ping(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n')) done(received.startsWith('+PONG'));
    });
  });
}

class RedisServer extends DisposableProcess implements DisposableRedis {
  readonly url: string;

  constructor(
    readonly port: number,
    dir: string,
  ) {
    super(dir, path.join(dir, 'redis.log'), 4000);
    this.url = `redis://127.0.0.1:${port}`;
  }

  /** Spawns redis-server and waits until it answers PING; throws with the server's output otherwise. */
  async launch(): Promise<void> {
    if (this.stopped) throw new Error(`Redis at ${this.url} was stopped; start a new one with startRedis()`);
    const args = [
      ...['--port', String(this.port), '--bind', '127.0.0.1'],
      ...['--save', '', '--appendonly', 'no', '--dir', this.dir],
    ];
    const binary = redisServerBinary();
    await this.launchProcess(dyingWithUs([binary, ...args]), {
      name: binary,
      timeoutMs: READY_TIMEOUT_MS,
      probe: async () => ((await ping(this.port)) ? undefined : 'no +PONG'),
      exitedEarly: (how) =>
        `redis-server on 127.0.0.1:${this.port} exited with ${how} before answering PING; its output:\n${this.launchLog()}`,
      timedOut: () =>
        `redis-server on 127.0.0.1:${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms; its output:\n${this.launchLog()}`,
    });
  }

  kill(): Promise<void> {
    return this.killAndWait('redis-server', this.port, KILL_TIMEOUT_MS);
  }
}

/**
 * Starts a disposable redis-server on a free 127.0.0.1 port and resolves once it answers PING
 * (or rejects after ~10 s with the server's output). Call stop() when done.
 */
export async function startRedis(): Promise<DisposableRedis> {
  sweepStaleDirs(DIR_PREFIX);
  return launchOnFreePort({
    create: (port) => new RedisServer(port, runDir(DIR_PREFIX)),
    bindFailed: /Address already in use/i,
    discard: (server) => server.stop(),
  });
}
