// A throwaway redis-server on a free loopback port, for fault tests that kill Redis mid-run.
// Never touches the shared Redis on 6379 (shared-servers.ts).
//
// Each server runs in its own process group from a temp dir under os.tmpdir() named
// facegate-redis-<our pid>-*, with persistence off (--save '' --appendonly no): a restart starts empty.
// Cleanup: stop() in afterAll/finally; a process 'exit' hook SIGKILLs whatever is left; when
// setpriv exists (util-linux) the server also gets SIGKILL from the kernel if the worker that started
// it dies (--pdeathsig); temp dirs left by dead workers are removed on the next start.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort, waitUntilPortRefuses } from './free-port.js';

export interface DisposableRedis {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** The server's temp dir (its --dir and redis.log); removed by stop(). */
  readonly dir: string;
  /** SIGKILL the server and wait until it has exited and the port refuses connections. No-op if not running. */
  kill(): Promise<void>;
  /** Start the server again on the same port (killing it first if it runs); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Kill the server and remove its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
const DIR_PREFIX = 'facegate-redis-';

function redisServerBinary(): string {
  const fromEnv = process.env.FACEGATE_REDIS_SERVER;
  if (fromEnv) return fromEnv;
  return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
}

/** setpriv --pdeathsig=KILL makes the kernel kill the server when the thread that spawned it dies. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));

const live = new Set<RedisServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and rmSync only.
  process.on('exit', () => {
    for (const server of live) server.destroySync();
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp dirs whose creating process is gone (a worker that was SIGKILLed could not clean up). */
function sweepStaleDirs(): void {
  let entries: string[];
  try {
    entries = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry);
    if (!match || Number(match[1]) === process.pid || pidAlive(Number(match[1]))) continue;
    rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true, maxRetries: 3 });
  }
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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class RedisServer implements DisposableRedis {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  private get logPath(): string {
    return path.join(this.dir, 'redis.log');
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Server output written since byte offset `from`, at most the last 4000 characters. */
  log(from = 0): string {
    try {
      const text = readFileSync(this.logPath).subarray(from).toString('utf8');
      return text.length > 4000 ? `…${text.slice(-4000)}` : text;
    } catch {
      return '(no server log)';
    }
  }

  private logSize(): number {
    try {
      return statSync(this.logPath).size;
    } catch {
      return 0;
    }
  }

  /** Spawns redis-server and waits until it answers PING; throws with the server's output otherwise. */
  async launch(): Promise<void> {
    if (this.stopping) throw new Error(`Redis at ${this.url} was stopped; start a new one with startRedis()`);
    const logFrom = this.logSize();
    const args = [
      ...['--port', String(this.port), '--bind', '127.0.0.1'],
      ...['--save', '', '--appendonly', 'no', '--dir', this.dir],
    ];
    const binary = redisServerBinary();
    const command = SETPRIV ?? binary;
    const commandArgs = SETPRIV ? ['--pdeathsig=KILL', '--', binary, ...args] : args;
    const logFd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    let spawnError: Error | undefined;
    try {
      child = spawn(command, commandArgs, { stdio: ['ignore', logFd, logFd], detached: true, cwd: this.dir });
    } finally {
      closeSync(logFd);
    }
    child.unref();
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        spawnError = error;
        resolve();
      });
      child.once('exit', () => resolve());
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw new Error(`Could not start ${binary}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        const how = child.exitCode !== null ? `code ${child.exitCode}` : `signal ${child.signalCode}`;
        throw new Error(`redis-server on 127.0.0.1:${this.port} exited with ${how} before answering PING; its output:\n${this.log(logFrom)}`);
      }
      if (await ping(this.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `redis-server on 127.0.0.1:${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms; its output:\n${this.log(logFrom)}`,
        );
      }
      await sleep(50);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) {
      await this.exited;
      return;
    }
    child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`redis-server (pid ${child.pid}) on port ${this.port} did not exit within ${KILL_TIMEOUT_MS} ms of SIGKILL`)),
          KILL_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await waitUntilPortRefuses(this.port, KILL_TIMEOUT_MS);
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.kill();
      } finally {
        rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
        live.delete(this);
      }
    })();
    return this.stopping;
  }

  /** For the process 'exit' hook: SIGKILL and remove the dir, synchronously. */
  destroySync(): void {
    if (this.child?.pid !== undefined && this.running()) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort while exiting.
    }
  }
}

/**
 * Starts a disposable redis-server on a free 127.0.0.1 port and resolves once it answers PING
 * (or rejects after ~10 s with the server's output). Call stop() when done.
 */
export async function startRedis(): Promise<DisposableRedis> {
  installExitHook();
  sweepStaleDirs();
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const server = new RedisServer(await freePort(), dir);
    live.add(server);
    try {
      await server.launch();
      return server;
    } catch (error) {
      // Another process may have taken the port between freePort() and the bind: try another one.
      const portTaken = /Address already in use/i.test(server.log());
      await server.stop();
      if (!portTaken || attempt >= START_ATTEMPTS) throw error;
    }
  }
}
