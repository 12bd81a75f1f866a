// Lifetime of a throwaway server process (disposable-postgres.ts, disposable-redis.ts): spawn it so
// that it dies with us, track it, clean up on exit, and sweep what dead runs left behind.
//
// Each server lives in a temp dir under os.tmpdir() named <prefix><our pid>-* (runDir()); the pid in
// the name is how sweepStaleDirs() tells the dirs of dead workers from those of live ones.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { freePort, waitUntilPortRefuses } from './free-port.js';

const START_ATTEMPTS = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Spawning so that the server dies with us

/** setpriv --pdeathsig=KILL makes the kernel kill the server when the thread that spawned it dies. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));

/** What to spawn; uid/gid are set when Node has to switch user itself (no setpriv). */
export interface SpawnCommand {
  readonly file: string;
  readonly args: string[];
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * Turns a command line into what to spawn: behind `setpriv --pdeathsig=KILL` when setpriv exists,
 * run as `user` when given (else as ourselves).
 */
export function dyingWithUs(
  argv: readonly string[],
  user?: { readonly uid: number; readonly gid: number },
): SpawnCommand {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('Expected a command line but received an empty one');
  if (SETPRIV) {
    const identity = user ? [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'] : [];
    return { file: SETPRIV, args: [...identity, '--pdeathsig=KILL', '--', file, ...args] };
  }
  // No setpriv: let Node switch user (no parent-death signal then; the 'exit' hook still applies).
  return user ? { file, args, uid: user.uid, gid: user.gid } : { file, args };
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

// ---------------------------------------------------------------------------------------------
// Tracking: the process 'exit' hook

const live = new Set<DisposableProcess>();
let exitHookInstalled = false;

/** Registers a server with the process 'exit' hook, which destroys every server still registered. */
function track(server: DisposableProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: SIGKILL and rmSync only.
    process.on('exit', () => {
      for (const left of live) left.destroySync();
    });
  }
  live.add(server);
}

export function untrack(server: DisposableProcess): void {
  live.delete(server);
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Creates a fresh temp dir named <prefix><our pid>-*. */
export function runDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `${prefix}${process.pid}-`));
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
export function sweepStaleDirs(prefix: string): void {
  let entries: string[];
  try {
    entries = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = new RegExp(`^${prefix}(\\d+)-`).exec(entry);
    if (!match || Number(match[1]) === process.pid || pidAlive(Number(match[1]))) continue;
    try {
      removeDir(path.join(os.tmpdir(), entry));
    } catch {
      // Best effort.
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One server process

/** What a test holds of a disposable server. */
export interface DisposableServer {
  readonly port: number;
  readonly url: string;
  /** The server's temp dir; removed by stop(). */
  readonly dir: string;
  /** SIGKILL the server and wait until it has exited and the port refuses connections. No-op if not running. */
  kill(): Promise<void>;
  /** Start the server again on the same port (killing it first if it runs); resolves once it answers. */
  restart(): Promise<void>;
  /** Kill the server and remove its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** How launchProcess() tells that the server is up, and what it says when it is not. */
export interface Readiness {
  /** What "Could not start …" names when the spawn itself fails. */
  readonly name: string;
  readonly timeoutMs: number;
  /** One check: resolves with undefined once the server answers, else with why not. */
  probe(): Promise<string | undefined>;
  /** The error message when the process exits before answering; `how` is "code N" or "signal S". */
  exitedEarly(how: string): string;
  /** The error message when it has not answered within timeoutMs; `failure` is the last probe's answer. */
  timedOut(failure: string): string;
}

/**
 * A throwaway server process, its temp dir and its log file. Subclasses start it (with
 * launchProcess()) and kill it; stop() and the 'exit' hook (destroySync()) kill it and remove the dir.
 */
export abstract class DisposableProcess {
  protected child: ChildProcess | undefined;
  protected exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  /** Where in the log the latest launchProcess() started writing. */
  private launchLogFrom = 0;

  constructor(
    readonly dir: string,
    protected readonly logPath: string,
    private readonly logTailChars: number,
  ) {}

  /** Spawns the server (with launchProcess()) and waits until it answers. */
  abstract launch(): Promise<void>;

  /** Kills the server and waits until it is gone; no-op if not running. */
  abstract kill(): Promise<void>;

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  protected get stopped(): boolean {
    return this.stopping !== undefined;
  }

  protected running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Server log written since byte offset `from`, at most the last logTailChars characters. */
  log(from = 0): string {
    try {
      const text = readFileSync(this.logPath).subarray(from).toString('utf8');
      return text.length > this.logTailChars ? `…${text.slice(-this.logTailChars)}` : text;
    } catch {
      return '(no server log)';
    }
  }

  /** Server log written by the latest launchProcess(). */
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

  /**
   * Spawns the server detached (in its own process group) from its dir with its output appended to
   * the log, then polls ready.probe() until the server answers. Throws when the spawn fails, when the
   * process exits first, or when it does not answer within ready.timeoutMs (killing it then).
   */
  protected async launchProcess(command: SpawnCommand, ready: Readiness, env?: NodeJS.ProcessEnv): Promise<void> {
    this.launchLogFrom = this.logSize();
    const { file, args, uid, gid } = command;
    const logFd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    let spawnError: Error | undefined;
    try {
      child = spawn(file, args, {
        cwd: this.dir,
        ...(env !== undefined ? { env } : {}),
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

    const deadline = Date.now() + ready.timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`Could not start ${ready.name}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        const how = child.exitCode !== null ? `code ${child.exitCode}` : `signal ${child.signalCode}`;
        throw new Error(ready.exitedEarly(how));
      }
      const failure = await ready.probe();
      if (failure === undefined) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(ready.timedOut(failure));
      }
      await sleep(50);
    }
  }

  /** SIGSTOP: the process keeps its sockets open but answers nothing (a hung host, a silent camera). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL (a crash), then waits until the process has exited and `port` refuses connections. */
  protected async killAndWait(label: string, port: number, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) {
      await this.exited;
      return;
    }
    child.kill('SIGKILL');
    await this.exitWithin(
      timeoutMs,
      `${label} (pid ${child.pid}) on port ${port} did not exit within ${timeoutMs} ms of SIGKILL`,
    );
    await waitUntilPortRefuses(port, timeoutMs);
  }

  /** Waits until the spawned process has exited; rejects with `message` if it has not after timeoutMs. */
  protected async exitWithin(timeoutMs: number, message: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Kill the server and remove its temp dir. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.kill();
      } finally {
        removeDir(this.dir);
        untrack(this);
      }
    })();
    return this.stopping;
  }

  /** For the process 'exit' hook: SIGKILL and remove the dir, synchronously. */
  destroySync(): void {
    if (this.child?.pid !== undefined && this.running()) this.killSync(this.child.pid);
    try {
      removeDir(this.dir);
    } catch {
      // Best effort while exiting.
    }
  }

  /** SIGKILLs the server synchronously (the 'exit' hook cannot wait); override to kill more than the one pid. */
  protected killSync(pid: number): void {
    signal(pid, 'SIGKILL');
  }
}

/**
 * Creates a server on a free port, tracks it and launches it. Another process may have taken the port
 * between freePort() and the bind: when the launch log matches bindFailed, discard() the server and try
 * another port (at most START_ATTEMPTS in all). `final` tells discard() that no retry follows and
 * the launch error is rethrown.
 */
export async function launchOnFreePort<S extends DisposableProcess>(options: {
  readonly create: (port: number) => S;
  readonly bindFailed: RegExp;
  readonly discard: (server: S, final: boolean) => Promise<void>;
}): Promise<S> {
  for (let attempt = 1; ; attempt++) {
    const server = options.create(await freePort());
    track(server);
    try {
      await server.launch();
      return server;
    } catch (error) {
      const final = !options.bindFailed.test(server.launchLog()) || attempt >= START_ATTEMPTS;
      await options.discard(server, final);
      if (final) throw error;
    }
  }
}
