// What a person at a terminal sees (issue 14, item 9), through the compiled CLI under a real
// pseudo-terminal (util-linux `script`), beside the same command piped: `serve` logs readable
// lines on a terminal and pino's JSON otherwise; ONNX Runtime's own red "Failed to load library
// ... providers_shared" lines are gone while the CPU fallback stays in facegate's log and in
// doctor; long work (enrolling a folder, backup) draws a progress bar on a terminal only, never
// into a pipe or --json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

/** ONNX Runtime's own error line when the CUDA provider's libraries are missing. */
const ORT_RED_LINE = /Failed to load library|\[E:onnxruntime/;
const FOLDER = path.join(FACES_DIR, 'lfw10', 'Colin_Powell');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-terminal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * What the terminal received, readable: colours (pino-pretty's) removed, and the bar's "go to the
 * line's start and erase it" (\r ESC[2K) written <ERASE>.
 */
const plain = (s: string) =>
  s
    // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is read here
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\r\x1b[2K')
    .join('<ERASE>');
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const env = (dataDir: string) => ({
  ...process.env,
  FACEGATE_DATA_DIR: dataDir,
  FACEGATE_MODELS_DIR: MODELS_DIR,
  DATABASE_URL: '',
  REDIS_URL: '',
  FACEGATE_CONFIG: '',
});
/** `facegate ...args` with stdout and stderr on a pseudo-terminal: what the person sees, both streams together. */
const onTerminal = (args: string[]) =>
  ['script', ['-qfec', [process.execPath, CLI, ...args].map(quote).join(' '), '/dev/null']] as const;

function facegateOnTerminal(dataDir: string, ...args: string[]) {
  const [cmd, argv] = onTerminal(args);
  return spawnSync(cmd, argv, { encoding: 'utf8', timeout: 120_000, env: env(dataDir) });
}
function facegatePiped(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: env(dataDir) });
}

describe('facegate serve on a terminal and piped', () => {
  async function serve(terminal: boolean): Promise<string> {
    const file = path.join(dir, `serve-${terminal}.yaml`);
    await writeFile(
      file,
      [
        `dataDir: ${JSON.stringify(path.join(dir, `serve-data-${terminal}`))}`,
        `api: { port: ${await freePort()} }`,
        'inference: { provider: auto }',
      ].join('\n'),
    );
    const [cmd, argv] = terminal
      ? onTerminal(['serve', '--config', file])
      : [process.execPath, [CLI, 'serve', '--config', file]];
    // Its own process group, so the stop reaches node under `script` too.
    const child = spawn(cmd, argv, { env: env(''), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      await until('the service started', () => /facegate running/.test(out) || child.exitCode !== null, 90_000);
    } finally {
      process.kill(-(child.pid as number), 'SIGTERM');
      await exited;
    }
    return out;
  }

  it('a terminal gets readable lines (time, LEVEL, message), no JSON and no ONNX Runtime red line', async () => {
    const out = plain(await serve(true));
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: inference session ready/m);
    expect(out).not.toContain('{"level":');
    expect(out).not.toMatch(ORT_RED_LINE);
    // Without a GPU the fallback is still said, in facegate's own words.
    if (!/provider: "?cuda"?\s*$/m.test(out))
      expect(out).toMatch(/WARN: GPU execution provider unavailable; falling back to CPU/);
  }, 120_000);

  it('piped, the log is pino JSON lines as before, with the fallback and without the red line', async () => {
    const out = await serve(false);
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(out).toMatch(/"msg":"inference session ready"/);
    expect(out).not.toMatch(ORT_RED_LINE);
    if (!/"provider":"cuda"/.test(out))
      expect(out).toMatch(/"level":40[^\n]*"msg":"GPU execution provider unavailable; falling back to CPU"/);
  }, 120_000);

  it('doctor still names the fallback, and prints no red line', () => {
    const r = facegatePiped(path.join(dir, 'doctor-data'), 'doctor', '--json');
    expect(r.stderr).not.toMatch(ORT_RED_LINE);
    const checks = (JSON.parse(r.stdout) as { checks: { name: string; detail: string }[] }).checks;
    const inference = checks.find((c) => c.name === 'inference provider')?.detail ?? '';
    if (!inference.startsWith('active cuda'))
      expect(inference).toMatch(/^active cpu \(requested auto\); fallback: cuda execution provider unavailable/);
  });
});

describe('progress of long CLI work', () => {
  it('enrolling a folder draws a bar on a terminal, and nothing on a piped stderr or with --json', () => {
    const t = facegateOnTerminal(path.join(dir, 'enroll-tty'), 'enroll', 'powell', '--name', 'Colin Powell', FOLDER);
    expect(t.status, t.stdout).toBe(0);
    expect(plain(t.stdout)).toMatch(/<ERASE>enroll \[#*-*\] \d+\/\d+ \d+ s Colin_Powell_\d{4}\.jpg/);
    expect(plain(t.stdout)).toContain('<ERASE>enrolled powell');
    expect(t.stdout).toMatch(/enrolled powell with \d+ embeddings/);
    expect(t.stdout).not.toMatch(ORT_RED_LINE);

    const p = facegatePiped(path.join(dir, 'enroll-pipe'), 'enroll', 'powell', '--name', 'Colin Powell', FOLDER);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toBe('');
    expect(p.stdout).toMatch(/^enrolled powell with \d+ embeddings\n/);

    const j = facegateOnTerminal(
      path.join(dir, 'enroll-json'),
      'enroll',
      'powell',
      '--name',
      'Colin Powell',
      FOLDER,
      '--json',
    );
    expect(j.status, j.stdout).toBe(0);
    expect(j.stdout).not.toContain('enroll [');
    expect((JSON.parse(j.stdout) as { userId: string }).userId).toBe('powell');
  });

  it('index rebuild counts its seconds on a terminal, and says nothing more piped', () => {
    const data = path.join(dir, 'enroll-tty');
    const t = facegateOnTerminal(data, 'index', 'rebuild');
    expect(t.status, t.stdout).toBe(0);
    expect(plain(t.stdout)).toMatch(/<ERASE>index rebuild: rebuilding from the database, \d+ s/);
    expect(plain(t.stdout)).toMatch(/<ERASE>rebuilt from the database: \d+ embeddings/);
    const p = facegatePiped(data, 'index', 'rebuild');
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toBe('');
    expect(p.stdout).toMatch(/^rebuilt from the database: \d+ embeddings\n$/);
  });

  it('backup and restore count their steps on a terminal; piped they print their step lines as before', () => {
    const data = path.join(dir, 'enroll-tty');
    const t = facegateOnTerminal(data, 'backup', path.join(dir, 'backup-tty'));
    expect(t.status, t.stdout).toBe(0);
    expect(plain(t.stdout)).toMatch(/<ERASE>backup \[#*-*\] \d\/\d+ \d+ s images\//);
    expect(t.stdout).toContain('backup: copying images/');
    const p = facegatePiped(data, 'backup', path.join(dir, 'backup-pipe'));
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toContain('backup: copying images/\n');
    expect(p.stderr).not.toMatch(/\r|backup \[/);

    const r = facegateOnTerminal(path.join(dir, 'restored'), 'restore', path.join(dir, 'backup-tty'));
    expect(r.status, r.stdout).toBe(0);
    expect(plain(r.stdout)).toMatch(/<ERASE>restore \[#*-*\] \d\/\d+ \d+ s images\//);
    expect(r.stdout).toMatch(/restored .*images/);
  });
});
