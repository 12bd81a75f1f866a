// `facegate backup <dest-dir>` and `facegate restore <src-dir>`: a copy of the data root (images/,
// embeddings/, spool/ and PGlite's db/) plus, with a PostgreSQL server configured, a pg_dump of its
// database. Both hold the data-root lock, so they refuse while the service runs. backup.json is
// written last: a backup folder without it is incomplete and restore refuses it.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { LOCK_FILE, lockDataRoot } from '../../../storage/index.js';
import { redactCredentials, redactUrl } from '../../../storage/redact.js';
import { loadConfig } from '../../config/config.js';
import { projectRoot } from '../../../core/project-root.js';
import { progress } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const backupUsage = `facegate backup <dest-dir> [--json]
  Copies the data root (images, embeddings, spool, embedded database) and, with a database server
  configured, a pg_dump of it into <dest-dir> (new or empty). Stop the service first.`;

export const restoreUsage = `facegate restore <src-dir> [--force] [--json]
  Restores a backup made by "facegate backup". A non-empty data root is refused unless --force,
  which moves it aside to <dataDir>.before-restore-<timestamp> (never deleted). Stop the service first.`;

const MANIFEST = 'backup.json';
const DUMP = 'database.dump';
const PARTS = ['images', 'embeddings', 'spool'] as const;
const PGLITE = 'db';

interface PartSummary {
  files: number;
  bytes: number;
}

export interface BackupManifest {
  format: 1;
  created_at: string;
  facegate_version: string;
  source: { dataDir: string; database: string };
  included: Record<string, PartSummary>;
}

type Out = (json: unknown, text: string) => void;

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function entries(dir: string): Promise<string[] | null> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function summarize(p: string): Promise<PartSummary> {
  const stat = await fs.stat(p);
  if (!stat.isDirectory()) return { files: 1, bytes: stat.size };
  const sum: PartSummary = { files: 0, bytes: 0 };
  for (const name of await fs.readdir(p)) {
    const s = await summarize(path.join(p, name));
    sum.files += s.files;
    sum.bytes += s.bytes;
  }
  return sum;
}

async function facegateVersion(): Promise<string> {
  const pkg = JSON.parse(await fs.readFile(path.join(projectRoot(), 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Runs pg_dump/pg_restore with the password (if any) in PGPASSWORD rather than on the command line. */
async function runPg(tool: string, args: (url: string) => string[], url: string): Promise<void> {
  const env = { ...process.env };
  let target = url;
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      env.PGPASSWORD = decodeURIComponent(parsed.password);
      parsed.password = '';
      target = parsed.toString();
    }
  } catch {
    // Not parseable as a URL: hand it over as it is.
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn(tool, args(target), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(error.code === 'ENOENT' ? `${tool} is not installed or not on PATH` : `${tool}: ${error.message}`),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${tool} failed (exit ${code}): ${redactCredentials(stderr.trim()) || 'no message'}`));
    });
  });
}

export async function backupCommand(argv: string[], out: Out): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('Expected "backup <dest-dir>"');
  const dest = path.resolve(positionals[0] as string);
  const config = await loadConfig();
  const dataDir = config.dataDir;
  const url = config.database.url;
  const relative = path.relative(dataDir, dest);
  if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
    throw new UsageError(`The backup folder ${dest} must not be inside the data root ${dataDir}`);
  }
  const existing = await entries(dest);
  if (existing !== null && existing.length > 0) throw new UsageError(`The backup folder ${dest} is not empty`);

  const lock = await lockDataRoot(dataDir);
  const parts: string[] = [...PARTS, ...(url ? [] : [PGLITE])];
  // The steps: each part, the dump, the manifest.
  const bar = progress('backup', { total: parts.length + (url ? 1 : 0) + 1, json: values.json });
  let step = 0;
  try {
    await fs.mkdir(dest, { recursive: true });
    const included: Record<string, PartSummary> = {};
    for (const part of parts) {
      const from = path.join(dataDir, part);
      if (!(await exists(from))) {
        bar.line(`backup: ${part}/ absent, skipped`);
        bar.update(++step);
        continue;
      }
      bar.line(`backup: copying ${part}/`);
      bar.update(step, `${part}/`);
      await fs.cp(from, path.join(dest, part), { recursive: true, errorOnExist: true, force: false });
      included[part] = await summarize(path.join(dest, part));
      bar.update(++step);
    }
    if (url) {
      bar.line(`backup: pg_dump of ${redactUrl(url)}`);
      bar.update(step, 'pg_dump');
      await runPg('pg_dump', (u) => ['--format=custom', '--file', path.join(dest, DUMP), u], url);
      included[DUMP] = await summarize(path.join(dest, DUMP));
      bar.update(++step);
    }
    const manifest: BackupManifest = {
      format: 1,
      created_at: new Date().toISOString(),
      facegate_version: await facegateVersion(),
      source: { dataDir, database: url ? redactUrl(url) : 'pglite' },
      included,
    };
    bar.line(`backup: writing ${MANIFEST}`);
    await fs.writeFile(path.join(dest, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
    bar.end();
    const total = Object.values(included).reduce((a, s) => ({ files: a.files + s.files, bytes: a.bytes + s.bytes }), {
      files: 0,
      bytes: 0,
    });
    out(
      { dest, ...manifest },
      `backed up ${dataDir} to ${dest}: ${Object.keys(included).join(', ') || 'nothing'} (${total.files} files, ${total.bytes} bytes)`,
    );
  } finally {
    bar.end();
    await lock.release();
  }
}

async function readManifest(src: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await fs.readFile(path.join(src, MANIFEST), 'utf8');
  } catch {
    throw new UsageError(`${src} is not a complete facegate backup (no ${MANIFEST})`);
  }
  let manifest: Partial<BackupManifest>;
  try {
    manifest = JSON.parse(text) as Partial<BackupManifest>;
  } catch (error) {
    throw new UsageError(`${path.join(src, MANIFEST)} is not valid JSON: ${(error as Error).message}`);
  }
  if (manifest.format !== 1 || typeof manifest.included !== 'object' || manifest.included === null) {
    throw new UsageError(
      `${path.join(src, MANIFEST)}: expected format 1 but received ${JSON.stringify(manifest.format)}`,
    );
  }
  return manifest as BackupManifest;
}

export async function restoreCommand(argv: string[], out: Out): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { force: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('Expected "restore <src-dir>"');
  const src = path.resolve(positionals[0] as string);
  const manifest = await readManifest(src);
  const config = await loadConfig();
  const dataDir = config.dataDir;
  const url = config.database.url;
  const hasDump = DUMP in manifest.included;
  if (hasDump && !url) {
    throw new UsageError(
      `The backup holds a PostgreSQL dump (${DUMP}) but no database server is configured (DATABASE_URL)`,
    );
  }

  const lock = await lockDataRoot(dataDir);
  const parts = [...PARTS, PGLITE].filter((part) => part in manifest.included);
  // The steps: each part in the backup, and the dump.
  const bar = progress('restore', { total: parts.length + (hasDump && url ? 1 : 0), json: values.json });
  let step = 0;
  try {
    const current = ((await entries(dataDir)) ?? []).filter((name) => name !== LOCK_FILE);
    let movedAside: string | null = null;
    if (current.length > 0) {
      if (!values.force)
        throw new UsageError(`The data root ${dataDir} is not empty; use --force to move it aside and restore`);
      // The lock file stays: the data root is ours until the restore is done.
      movedAside = `${dataDir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      bar.line(`restore: moving the current data root aside to ${movedAside}`);
      await fs.mkdir(movedAside);
      for (const name of current) await fs.rename(path.join(dataDir, name), path.join(movedAside, name));
    }
    const restored: string[] = [];
    for (const part of parts) {
      if (!(await exists(path.join(src, part)))) {
        bar.update(++step);
        continue;
      }
      bar.line(`restore: copying ${part}/`);
      bar.update(step, `${part}/`);
      await fs.cp(path.join(src, part), path.join(dataDir, part), {
        recursive: true,
        errorOnExist: true,
        force: false,
      });
      restored.push(part);
      bar.update(++step);
    }
    if (hasDump && url) {
      bar.line(`restore: pg_restore into ${redactUrl(url)}`);
      bar.update(step, 'pg_restore');
      await runPg(
        'pg_restore',
        (u) => ['--clean', '--if-exists', '--no-owner', '--dbname', u, path.join(src, DUMP)],
        url,
      );
      restored.push(DUMP);
      bar.update(++step);
    }
    bar.end();
    out(
      {
        src,
        dataDir,
        restored,
        movedAside,
        backup: { created_at: manifest.created_at, facegate_version: manifest.facegate_version },
      },
      `restored ${restored.join(', ') || 'nothing'} from ${src} into ${dataDir}${movedAside ? ` (previous data root kept at ${movedAside})` : ''}`,
    );
  } finally {
    bar.end();
    await lock.release();
  }
}
