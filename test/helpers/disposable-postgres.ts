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
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import {
  DisposableProcess,
  dyingWithUs,
  launchOnFreePort,
  removeDir,
  runDir,
  signal,
  sweepStaleDirs,
  untrack,
  type DisposableServer,
} from './disposable-process.js';
import { waitUntilPortRefuses } from './free-port.js';

export interface DisposablePostgres extends DisposableServer {
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
}

const INITDB_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 30_000;
const KILL_TIMEOUT_MS = 10_000;
const DIR_PREFIX = 'facegate-pg-';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Where the binaries are and as whom to run them

interface Runner {
  readonly binDir: string;
  /** Owner for the temp dir when we run as root; undefined when we run as ourselves. */
  readonly owner: { readonly name: string; readonly uid: number; readonly gid: number } | undefined;
}

let runner: Runner | undefined;

function findBinDir(): string {
  const candidates: string[] = [];
  if (process.env.FACEGATE_PG_BINDIR) candidates.push(process.env.FACEGATE_PG_BINDIR);
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
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
  const found = candidates.find(
    (dir) => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres')),
  );
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
  const isRoot = process.getuid?.() === 0;
  let owner: Runner['owner'];
  if (isRoot) {
    const name = process.env.FACEGATE_PG_OS_USER ?? 'postgres';
    try {
      const uid = Number(
        execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(),
      );
      const gid = Number(
        execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(),
      );
      owner = { name, uid, gid };
    } catch (error) {
      throw new Error(
        `We run as root, and initdb/postgres refuse to run as root, but there is no OS user "${name}" to run them as ` +
          `(set FACEGATE_PG_OS_USER to another one): ${(error as Error).message}`,
      );
    }
    if (owner.uid === 0)
      throw new Error(`FACEGATE_PG_OS_USER "${name}" is root; initdb/postgres refuse to run as root`);
  }
  runner = { binDir, owner };
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

/** Runs a command to completion as the server user; resolves with its output, rejects with it on failure. */
function run(argv: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  const { file, args, uid, gid } = dyingWithUs(argv, getRunner().owner);
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
      else
        reject(
          new Error(
            `${argv.join(' ')} failed (${code !== null ? `exit code ${code}` : `signal ${signalName}`}):\n${output}`,
          ),
        );
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

class PostgresServer extends DisposableProcess implements DisposablePostgres {
  readonly url: string;
  readonly dataDir: string;
  readonly socketDir: string;

  constructor(
    readonly port: number,
    dir: string,
  ) {
    super(dir, path.join(dir, 'postgres.log'), 6000);
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    this.dataDir = path.join(dir, 'data');
    this.socketDir = path.join(dir, 'sock');
  }

  /** Spawns the postmaster on the existing data dir and waits until `SELECT 1` works. */
  async launch(): Promise<void> {
    if (this.stopped) throw new Error(`PostgreSQL at ${this.url} was stopped; start a new one with startPostgres()`);
    const { binDir, owner } = getRunner();
    const command = dyingWithUs(
      [
        path.join(binDir, 'postgres'),
        ...['-D', this.dataDir],
        ...['-c', 'listen_addresses=127.0.0.1', '-p', String(this.port), '-k', this.socketDir],
        // fsync=off: a disposable test server needs no durability against OS crashes or power loss.
        // Killing the server processes (kill()) still loses nothing committed: the WAL is in the OS
        // page cache, and crash recovery on restart() replays it.
        ...['-c', 'fsync=off'],
      ],
      owner,
    );
    await this.launchProcess(
      command,
      {
        name: command.file,
        timeoutMs: READY_TIMEOUT_MS,
        probe: () => trySelect1(this.port),
        exitedEarly: (how) =>
          `PostgreSQL on 127.0.0.1:${this.port} exited with ${how} before accepting connections; server log (${this.logPath}):\n${this.launchLog()}`,
        timedOut: (failure) =>
          `PostgreSQL on 127.0.0.1:${this.port} did not answer SELECT 1 within ${READY_TIMEOUT_MS} ms (last error: ${failure}); ` +
          `server log (${this.logPath}):\n${this.launchLog()}`,
      },
      serverEnv(),
    );
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || !this.running()) {
      await this.exited;
      return;
    }
    const children = killTreeSync(child.pid);
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    await this.exitWithin(
      KILL_TIMEOUT_MS,
      `PostgreSQL postmaster (pid ${child.pid}) on port ${this.port} did not exit within ${KILL_TIMEOUT_MS} ms of SIGKILL`,
    );
    // The killed children are reparented to init; wait until they are reaped or zombies, so that
    // nothing is attached to the shared memory or writes in the data dir any more.
    for (;;) {
      const left = children.filter((pid) => !gone(pid));
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(
          `PostgreSQL processes ${left.join(', ')} (port ${this.port}) were still alive ${KILL_TIMEOUT_MS} ms after SIGKILL`,
        );
      }
      await sleep(20);
    }
    await waitUntilPortRefuses(this.port, Math.max(1_000, deadline - Date.now()));
  }

  /** The postmaster's children left its process group (setsid), so kill the whole tree. */
  protected override killSync(pid: number): void {
    killTreeSync(pid);
  }
}

/** Creates the temp dir (owned by the server user) and runs initdb into dir/data. */
async function initCluster(): Promise<string> {
  const { binDir, owner } = getRunner();
  const dir = runDir(DIR_PREFIX);
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
    removeDir(dir);
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
  sweepStaleDirs(DIR_PREFIX);
  const dir = await initCluster();
  return launchOnFreePort({
    create: (port) => new PostgresServer(port, dir),
    bindFailed: /could not bind|Address already in use/i,
    // A retry runs on the same cluster; only the port changes.
    discard: async (server, final) => {
      await server.kill().catch(() => undefined);
      untrack(server);
      if (final) removeDir(dir);
    },
  });
}
