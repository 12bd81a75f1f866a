// A throwaway PostgreSQL cluster on a free loopback port, for fault tests that kill the database
// mid-run. Never touches the shared PostgreSQL on 5432 (shared-servers.ts).
//
// initdb and postgres refuse to run as root, so when we are root they run as the `postgres` OS user
// (FACEGATE_PG_OS_USER overrides), which owns the temp dir; otherwise they run as the current user.
// Binaries: FACEGATE_PG_BINDIR, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
//
// Each cluster lives in a temp dir under os.tmpdir() named facegate-pg-<our pid>-* holding data/
// (the cluster), sock/ (the unix socket) and postgres.log. Cleanup: stop() in afterAll/finally; a
// process 'exit' hook SIGKILLs whatever is left; when setpriv exists (util-linux) the postmaster also
// gets SIGKILL from the kernel if the worker that started it dies (--pdeathsig), and its children
// exit on postmaster death; temp dirs left by dead workers are removed on the next start.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { freePort, waitUntilPortRefuses } from './free-port.js';

export interface DisposablePostgres {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication, no password) */
  readonly url: string;
  /** The temp dir holding data/, sock/ and postgres.log; removed by stop(). */
  readonly dir: string;
  /**
   * Crash the server: SIGKILL the postmaster and all its processes at once (like the OOM killer or a
   * power cut, no shutdown checkpoint), then wait until they are gone and the port refuses
   * connections. Clients see their connections drop. No-op if not running.
   */
  kill(): Promise<void>;
  /**
   * Start the server again on the same port from the same data dir (killing it first if it runs);
   * resolves once `SELECT 1` works. After kill() this runs crash recovery: committed data survives.
   */
  restart(): Promise<void>;
  /** Kill the server and remove its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const INITDB_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 30_000;
const KILL_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
const DIR_PREFIX = 'facegate-pg-';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Where the binaries are and as whom to run them

interface Runner {
  readonly binDir: string;
  /** Owner for the temp dir when we run as root; undefined when we run as ourselves. */
  readonly owner: { readonly name: string; readonly uid: number; readonly gid: number } | undefined;
  /** Turns a command line into what to spawn (a setpriv prefix when available). */
  command(argv: readonly string[]): { file: string; args: string[]; uid?: number; gid?: number };
}

let runner: Runner | undefined;

function findBinDir(): string {
  const candidates: string[] = [];
  if (process.env.FACEGATE_PG_BINDIR) candidates.push(process.env.FACEGATE_PG_BINDIR);
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (bindir) candidates.push(bindir);
  } catch {
    // No pg_config on PATH.
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((entry) => /^\d+(\.\d+)?$/.test(entry))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  } catch {
    // Not a Debian-style layout.
  }
  const found = candidates.find((dir) => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres')));
  if (!found) {
    throw new Error(
      `Could not find PostgreSQL server binaries (initdb, postgres); looked in: ${candidates.join(', ') || '(nothing)'}. ` +
        'Install the PostgreSQL server package or set FACEGATE_PG_BINDIR.',
    );
  }
  return found;
}

function getRunner(): Runner {
  if (runner) return runner;
  const binDir = findBinDir();
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));
  const isRoot = process.getuid?.() === 0;
  let owner: Runner['owner'];
  if (isRoot) {
    const name = process.env.FACEGATE_PG_OS_USER ?? 'postgres';
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
      owner = { name, uid, gid };
    } catch (error) {
      throw new Error(
        `We run as root, and initdb/postgres refuse to run as root, but there is no OS user "${name}" to run them as ` +
          `(set FACEGATE_PG_OS_USER to another one): ${(error as Error).message}`,
      );
    }
    if (owner.uid === 0) throw new Error(`FACEGATE_PG_OS_USER "${name}" is root; initdb/postgres refuse to run as root`);
  }
  runner = {
    binDir,
    owner,
    command(argv) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error('Expected a command line but received an empty one');
      if (setpriv) {
        const identity = owner ? [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups'] : [];
        return { file: setpriv, args: [...identity, '--pdeathsig=KILL', '--', file, ...args] };
      }
      // No setpriv: let Node switch user (no parent-death signal then; the 'exit' hook still applies).
      return owner ? { file, args, uid: owner.uid, gid: owner.gid } : { file, args };
    },
  };
  return runner;
}

/** Environment for initdb/postgres: ours without PG* variables (PGDATA, PGPORT, ...), C locale. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('PG')) env[key] = value;
  env.LC_ALL = 'C';
  if (runner?.owner) {
    env.USER = runner.owner.name;
    env.LOGNAME = runner.owner.name;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Processes via /proc (Linux)

interface ProcStat {
  readonly state: string;
  readonly ppid: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** A process counts as gone once it no longer exists or is a zombie (it holds no resources then). */
function gone(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z' || stat.state === 'X';
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.ppid, siblings);
  }
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/**
 * SIGKILLs the postmaster and every process under it; returns the pids killed besides the postmaster.
 * Postmaster children call setsid(), so a process-group kill would miss them: we freeze the postmaster
 * with SIGSTOP (so it cannot fork more), list its descendants from /proc and SIGKILL them all.
 * Synchronous so that the process 'exit' hook can use it.
 */
function killTreeSync(postmaster: number): number[] {
  signal(postmaster, 'SIGSTOP');
  const until = Date.now() + 1_000;
  while (Date.now() < until) {
    const state = procStat(postmaster)?.state;
    if (state === undefined || state === 'T' || state === 'Z' || state === 'X') break;
  }
  const children = existsSync('/proc/self/stat') ? descendants(postmaster) : [];
  signal(postmaster, 'SIGKILL');
  for (const pid of children) signal(pid, 'SIGKILL');
  return children;
}

// ---------------------------------------------------------------------------------------------

const live = new Set<PostgresServer>();
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
    try {
      rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort.
    }
  }
}

/** Runs a command to completion as the server user; resolves with its output, rejects with it on failure. */
function run(argv: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  const { file, args, uid, gid } = getRunner().command(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd,
      env: serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid } : {}),
      ...(gid !== undefined ? { gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Could not run ${argv.join(' ')}: ${error.message}`));
    });
    child.once('close', (code, signalName) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${argv.join(' ')} failed (${code !== null ? `exit code ${code}` : `signal ${signalName}`}):\n${output}`));
    });
  });
}

/** One `SELECT 1` over TCP; undefined on success, else the error message. */
async function trySelect1(port: number): Promise<string | undefined> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 2_000,
  });
  client.on('error', () => {
    // Reported through connect()/query().
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

class PostgresServer implements DisposablePostgres {
  readonly url: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  /** Where in the log the latest launch() started writing. */
  private launchLogFrom = 0;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    this.dataDir = path.join(dir, 'data');
    this.socketDir = path.join(dir, 'sock');
    this.logPath = path.join(dir, 'postgres.log');
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Server log written since byte offset `from`, at most the last 6000 characters. */
  log(from = 0): string {
    try {
      const text = readFileSync(this.logPath).subarray(from).toString('utf8');
      return text.length > 6000 ? `…${text.slice(-6000)}` : text;
    } catch {
      return '(no server log)';
    }
  }

  /** Server log written by the latest launch(). */
  launchLog(): string {
    return this.log(this.launchLogFrom);
  }

  private logSize(): number {
    try {
      return statSync(this.logPath).size;
    } catch {
      return 0;
    }
  }

  /** Spawns the postmaster on the existing data dir and waits until `SELECT 1` works. */
  async launch(): Promise<void> {
    if (this.stopping) throw new Error(`PostgreSQL at ${this.url} was stopped; start a new one with startPostgres()`);
    const { binDir } = getRunner();
    const logFrom = this.logSize();
    this.launchLogFrom = logFrom;
    const { file, args, uid, gid } = getRunner().command([
      path.join(binDir, 'postgres'),
      ...['-D', this.dataDir],
      ...['-c', 'listen_addresses=127.0.0.1', '-p', String(this.port), '-k', this.socketDir],
      // fsync=off: a disposable test server needs no durability against OS crashes or power loss.
      // Killing the server processes (kill()) still loses nothing committed: the WAL is in the OS
      // page cache, and crash recovery on restart() replays it.
      ...['-c', 'fsync=off'],
    ]);
    const logFd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    let spawnError: Error | undefined;
    try {
      child = spawn(file, args, {
        cwd: this.dir,
        env: serverEnv(),
        stdio: ['ignore', logFd, logFd],
        detached: true,
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
      });
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
      if (spawnError) throw new Error(`Could not start ${file}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        const how = child.exitCode !== null ? `code ${child.exitCode}` : `signal ${child.signalCode}`;
        throw new Error(
          `PostgreSQL on 127.0.0.1:${this.port} exited with ${how} before accepting connections; server log (${this.logPath}):\n${this.log(logFrom)}`,
        );
      }
      const failure = await trySelect1(this.port);
      if (failure === undefined) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `PostgreSQL on 127.0.0.1:${this.port} did not answer SELECT 1 within ${READY_TIMEOUT_MS} ms (last error: ${failure}); ` +
            `server log (${this.logPath}):\n${this.log(logFrom)}`,
        );
      }
      await sleep(50);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || !this.running()) {
      await this.exited;
      return;
    }
    const children = killTreeSync(child.pid);
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`PostgreSQL postmaster (pid ${child.pid}) on port ${this.port} did not exit within ${KILL_TIMEOUT_MS} ms of SIGKILL`)),
          KILL_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    // The killed children are reparented to init; wait until they are reaped or zombies, so that
    // nothing is attached to the shared memory or writes in the data dir any more.
    for (;;) {
      const left = children.filter((pid) => !gone(pid));
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`PostgreSQL processes ${left.join(', ')} (port ${this.port}) were still alive ${KILL_TIMEOUT_MS} ms after SIGKILL`);
      }
      await sleep(20);
    }
    await waitUntilPortRefuses(this.port, Math.max(1_000, deadline - Date.now()));
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

  /** For the process 'exit' hook: SIGKILL everything and remove the dir, synchronously. */
  destroySync(): void {
    if (this.child?.pid !== undefined && this.running()) killTreeSync(this.child.pid);
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort while exiting.
    }
  }
}

/** Creates the temp dir (owned by the server user) and runs initdb into dir/data. */
async function initCluster(): Promise<string> {
  const { binDir, owner } = getRunner();
  const dir = mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  try {
    const socketDir = path.join(dir, 'sock');
    mkdirSync(socketDir, { mode: 0o700 });
    if (owner) {
      chownSync(dir, owner.uid, owner.gid);
      chownSync(socketDir, owner.uid, owner.gid);
    }
    await run(
      [
        path.join(binDir, 'initdb'),
        ...['-D', path.join(dir, 'data')],
        ...['-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
      ],
      dir,
      INITDB_TIMEOUT_MS,
    );
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    const hint = owner ? ` (as OS user ${owner.name}; it must be able to reach ${os.tmpdir()})` : '';
    throw new Error(`initdb failed${hint}: ${(error as Error).message}`);
  }
}

/**
 * Creates a fresh PostgreSQL cluster (initdb, trust auth, superuser `postgres`) in a temp dir and
 * starts it on a free 127.0.0.1 port; resolves once `SELECT 1` works (or rejects with the server
 * log after ~30 s). Call stop() when done.
 */
export async function startPostgres(): Promise<DisposablePostgres> {
  installExitHook();
  sweepStaleDirs();
  const dir = await initCluster();
  for (let attempt = 1; ; attempt++) {
    const server = new PostgresServer(await freePort(), dir);
    live.add(server);
    try {
      await server.launch();
      return server;
    } catch (error) {
      // Another process may have taken the port between freePort() and the bind: try another one
      // (on the same cluster; only the port changes).
      const portTaken = /could not bind|Address already in use/i.test(server.launchLog());
      await server.kill().catch(() => undefined);
      live.delete(server);
      if (!portTaken || attempt >= START_ATTEMPTS) {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        throw error;
      }
    }
  }
}
