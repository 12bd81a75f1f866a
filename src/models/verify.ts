// A model file is used only after its sha256 matches the manifest: a truncated download, a swapped
// file or another version of the "same" model would silently change every embedding, and an index
// must never mix vectors of two models (ARCHITECTURE.md). Hashing is streamed and remembered per
// process, so a hot path that resolves a model again does not read 5 MB again.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { loadManifest, modelEntry, modelId, type Manifest, type ModelEntry } from './manifest.js';

/** A model file whose bytes are not the ones the manifest names. */
export class ModelHashMismatchError extends Error {
  override name = 'ModelHashMismatchError';
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`model file ${file} has sha256 ${actual} but the manifest expects ${expected}: refusing it`);
  }
}

/** A model the manifest lists whose file is not in the models folder. */
export class ModelFileMissingError extends Error {
  override name = 'ModelFileMissingError';
  constructor(readonly file: string) {
    super(
      `model file ${file} is missing: run \`node dist/scripts/fetch-models.js\` or point FACEGATE_MODELS_DIR at a folder holding it`,
    );
  }
}

/** The sha256 of a file, read as a stream (never whole into memory). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  stats.filesHashed++;
  return hash.digest('hex');
}

const stats = { filesHashed: 0 };

/** How many files this process has hashed (the verification cache saves the rest). */
export function modelHashStats(): { readonly filesHashed: number } {
  return { ...stats };
}

interface Verified {
  /** size, mtime and ctime (ns): ctime changes on any write, even one that restores mtime. */
  key: string;
  digest: Promise<string>;
}

const verified = new Map<string, Verified>();

async function statKey(file: string): Promise<string> {
  const s = await fs.stat(file, { bigint: true });
  if (!s.isFile()) throw new Error(`model file ${file} is not a regular file`);
  return `${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/**
 * The sha256 of `file`, hashed once per process while its size, mtime and ctime stay the same.
 * Concurrent callers share one hashing pass. ENOENT propagates as the fs error.
 */
export async function cachedSha256(file: string): Promise<string> {
  const absolute = path.resolve(file);
  const key = await statKey(absolute);
  const hit = verified.get(absolute);
  if (hit?.key === key) return hit.digest;
  const digest = sha256File(absolute);
  const entry: Verified = { key, digest };
  verified.set(absolute, entry);
  try {
    const value = await digest;
    // Written to while we read it: the digest describes neither version, so do not keep it.
    if ((await statKey(absolute)) !== key && verified.get(absolute) === entry) verified.delete(absolute);
    return value;
  } catch (error) {
    if (verified.get(absolute) === entry) verified.delete(absolute);
    throw error;
  }
}

/** Forgets every remembered verification (tests; a tool that replaced files behind our back). */
export function forgetVerifiedModelFiles(): void {
  verified.clear();
}

/** Refuses `file` unless its sha256 is the entry's. */
export async function verifyModelFile(file: string, entry: Pick<ModelEntry, 'sha256'>): Promise<void> {
  let actual: string;
  try {
    actual = await cachedSha256(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelFileMissingError(path.resolve(file));
    throw error;
  }
  if (actual !== entry.sha256) throw new ModelHashMismatchError(path.resolve(file), entry.sha256, actual);
}

export interface ResolvedModel {
  entry: ModelEntry;
  /** Absolute path of the verified file. */
  path: string;
  /** modelId(entry). */
  id: string;
}

/**
 * Finds model `name`'s file in `modelsDir` and verifies its sha256 against the manifest.
 * Throws ModelFileMissingError or ModelHashMismatchError (naming the file, expected and actual hash).
 */
export async function resolveModelFile(name: string, modelsDir: string, manifest?: Manifest): Promise<ResolvedModel> {
  const entry = modelEntry(manifest ?? (await loadManifest()), name);
  const file = path.resolve(modelsDir, entry.file);
  await verifyModelFile(file, entry);
  return { entry, path: file, id: modelId(entry) };
}
