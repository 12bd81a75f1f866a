// `facegate serve` as a child process, the way a site runs it: the compiled CLI (dist/), the given
// configuration file and nothing from the developer's environment (no DATABASE_URL, REDIS_URL or
// data/models folders leaking in), its output collected for the test to read.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const CLI_MAIN = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

export interface ServeProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  readonly log: string;
  /** Resolves with the exit code (null after a signal). */
  exited: Promise<number | null>;
  /** SIGKILL (no goodbye) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop) and wait for the exit. */
  stop(): Promise<number | null>;
}

export function spawnServe(configFile: string): ServeProcess {
  const env = {
    ...process.env,
    FACEGATE_CONFIG: configFile,
    DATABASE_URL: '',
    REDIS_URL: '',
    FACEGATE_DATA_DIR: '',
    FACEGATE_MODELS_DIR: '',
  };
  const child = spawn(process.execPath, [CLI_MAIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    get log() {
      return log;
    },
    exited,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      return exited;
    },
  };
}
