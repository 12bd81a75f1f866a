// The embedding snapshot on disk, exactly the LLD's three files in embeddings/:
//   faiss.index   FlatIndex.serialize() (FAISS's own format inside a checked header)
//   id_map.json   {"<embedding id>": {"user_id": "U123", "image": "face_001.png"}, ...}
//   stats.json    the commit record: generation, model, counts, the sha256 of the other two, and
//                 applied_seq, the change feed's mark this index holds every change up to (issue 18)
//
// They are written as one generation. A new generation is staged as faiss.index.next,
// id_map.json.next and stats.json.next (each written atomically), then renamed into place with
// stats.json last. On load, a committed generation is used only if both files match the hashes
// in stats.json; if they do not (a crash between renames), the staged stats.json.next says what
// the new generation is, and the renames are finished when the files match it. A mismatched
// pair is never loaded.
//
// A save must not stall recognition: the index is serialized off the JavaScript thread
// (FlatIndex.serializeAsync; ~1.2 s on it before, at 100,000 x 512) and hashed in slices with a
// turn of the event loop between them.
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { FlatIndex } from '../../core/native/index.js';
import { fsyncDir, renameWithRetry, writeFileAtomic } from '../fs/atomic-write.js';

export const INDEX_FILE = 'faiss.index';
export const ID_MAP_FILE = 'id_map.json';
export const STATS_FILE = 'stats.json';
const STAGED = '.next';

export interface IdMapEntry {
  userId: string;
  image: string;
}

export interface SnapshotStats {
  format: 1;
  generation: number;
  model_id: string;
  dim: number;
  count: number;
  users: number;
  saved_at: string;
  /**
   * The change feed's high-water mark (a decimal seq): this index holds every change up to it.
   * Written in the same generation as the index, so the two never disagree after a crash. Absent
   * in a snapshot from before the change feed (or that was never compared with it).
   */
  applied_seq?: string;
  files: Record<typeof INDEX_FILE | typeof ID_MAP_FILE, { sha256: string; bytes: number }>;
}

export interface Snapshot {
  index: FlatIndex;
  idMap: Map<bigint, IdMapEntry>;
  stats: SnapshotStats;
}

export type SnapshotRead = { ok: true; snapshot: Snapshot; recovered: boolean } | { ok: false; reason: string };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// 16 MiB: about 10 ms of hashing, so searches' results and timers wait at most that long.
const HASH_SLICE = 16 * 1024 * 1024;

/** sha256 of a large buffer, yielding to the event loop between slices (the same digest as sha256). */
async function sha256Sliced(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.length; at += HASH_SLICE) {
    if (at > 0) await nextTurn();
    hash.update(bytes.subarray(at, at + HASH_SLICE));
  }
  return hash.digest('hex');
}

function idMapJson(idMap: Map<bigint, IdMapEntry>): string {
  const out: Record<string, { user_id: string; image: string }> = {};
  for (const [id, e] of idMap) out[id.toString()] = { user_id: e.userId, image: e.image };
  return JSON.stringify(out);
}

/** Writes `index` and `idMap` as generation `generation`; returns the stats that commit it. */
export async function writeSnapshot(
  dir: string,
  index: FlatIndex,
  idMap: Map<bigint, IdMapEntry>,
  modelId: string,
  generation: number,
  appliedSeq: bigint | null = null,
): Promise<SnapshotStats> {
  await fs.mkdir(dir, { recursive: true });
  // The id map, the counts and the index are taken in one turn of the event loop, so they agree:
  // serializeAsync's bytes are the index as it is now (it rejects if an add or remove comes first).
  const mapBytes = Buffer.from(idMapJson(idMap));
  const count = index.size;
  const users = new Set([...idMap.values()].map((e) => e.userId)).size;
  const indexBytes = await index.serializeAsync();
  const stats: SnapshotStats = {
    format: 1,
    generation,
    model_id: modelId,
    dim: index.dim,
    count,
    users,
    saved_at: new Date().toISOString(),
    ...(appliedSeq === null ? {} : { applied_seq: appliedSeq.toString() }),
    files: {
      [INDEX_FILE]: { sha256: await sha256Sliced(indexBytes), bytes: indexBytes.length },
      [ID_MAP_FILE]: { sha256: sha256(mapBytes), bytes: mapBytes.length },
    },
  };
  await writeFileAtomic(path.join(dir, INDEX_FILE + STAGED), indexBytes);
  await writeFileAtomic(path.join(dir, ID_MAP_FILE + STAGED), mapBytes);
  await writeFileAtomic(path.join(dir, STATS_FILE + STAGED), JSON.stringify(stats, null, 2));
  await commitStaged(dir);
  return stats;
}

// Each rename is made durable before the next: after a power cut the disk never holds a later
// rename without the earlier ones, so stats.json never arrives ahead of the files it describes.
async function commitStaged(dir: string): Promise<void> {
  for (const file of [INDEX_FILE, ID_MAP_FILE, STATS_FILE]) {
    const staged = path.join(dir, file + STAGED);
    if (!existsSync(staged)) continue;
    await renameWithRetry(staged, path.join(dir, file));
    await fsyncDir(dir);
  }
}

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseStats(bytes: Buffer | null): SnapshotStats | string {
  if (!bytes) return 'no stats.json';
  try {
    const s = JSON.parse(bytes.toString('utf8')) as Partial<SnapshotStats>;
    if (
      s.format !== 1 ||
      typeof s.generation !== 'number' ||
      typeof s.model_id !== 'string' ||
      typeof s.dim !== 'number'
    ) {
      return 'stats.json is not a facegate snapshot record';
    }
    if (!s.files?.[INDEX_FILE]?.sha256 || !s.files[ID_MAP_FILE]?.sha256) return 'stats.json lists no file hashes';
    if (s.applied_seq !== undefined && !(typeof s.applied_seq === 'string' && /^\d{1,19}$/.test(s.applied_seq)))
      return 'stats.json has an applied_seq that is not a decimal seq';
    return s as SnapshotStats;
  } catch {
    return 'stats.json is not valid JSON';
  }
}

function parseIdMap(bytes: Buffer): Map<bigint, IdMapEntry> {
  const raw = JSON.parse(bytes.toString('utf8')) as Record<string, { user_id?: unknown; image?: unknown }>;
  const map = new Map<bigint, IdMapEntry>();
  for (const [key, e] of Object.entries(raw)) {
    if (!/^\d+$/.test(key) || typeof e.user_id !== 'string' || typeof e.image !== 'string') {
      throw new Error(`id_map.json entry ${JSON.stringify(key)} is malformed`);
    }
    map.set(BigInt(key), { userId: e.user_id, image: e.image });
  }
  return map;
}

// Both data files as `stats` describes them, or why not.
function load(stats: SnapshotStats, indexBytes: Buffer | null, mapBytes: Buffer | null): Snapshot | string {
  if (!indexBytes || !mapBytes) return 'faiss.index or id_map.json is missing';
  if (sha256(indexBytes) !== stats.files[INDEX_FILE].sha256) return 'faiss.index does not match stats.json';
  if (sha256(mapBytes) !== stats.files[ID_MAP_FILE].sha256) return 'id_map.json does not match stats.json';
  let index: FlatIndex;
  let idMap: Map<bigint, IdMapEntry>;
  try {
    index = FlatIndex.deserialize(indexBytes, stats.dim);
    idMap = parseIdMap(mapBytes);
  } catch (error) {
    return (error as Error).message;
  }
  const ids = index.ids();
  if (ids.length !== idMap.size || ids.some((id) => !idMap.has(id)))
    return 'faiss.index and id_map.json hold different ids';
  return { index, idMap, stats };
}

/** The newest complete generation in `dir`, finishing an interrupted commit when it can. */
export async function readSnapshot(dir: string): Promise<SnapshotRead> {
  const file = (name: string) => readOptional(path.join(dir, name));
  const committed = parseStats(await file(STATS_FILE));
  const staged = parseStats(await file(STATS_FILE + STAGED));
  const reasons: string[] = [];

  // A staged record newer than the committed one means a commit was cut short: roll it forward,
  // taking each data file from its staged copy, or from its final name if already renamed.
  if (typeof staged !== 'string' && (typeof committed === 'string' || staged.generation > committed.generation)) {
    const pick = async (name: string) => (await file(name + STAGED)) ?? (await file(name));
    const next = load(staged, await pick(INDEX_FILE), await pick(ID_MAP_FILE));
    if (typeof next !== 'string') {
      await commitStaged(dir);
      return { ok: true, snapshot: next, recovered: true };
    }
    reasons.push(`staged generation ${staged.generation} unusable: ${next}`);
  }
  if (typeof committed === 'string') return { ok: false, reason: [committed, ...reasons].join('; ') };
  const current = load(committed, await file(INDEX_FILE), await file(ID_MAP_FILE));
  if (typeof current !== 'string') {
    await removeLeftovers(dir);
    return { ok: true, snapshot: current, recovered: false };
  }
  // stats.json renamed but a data file's rename lost (a file system that reorders them): the
  // staged copies may be exactly what it describes.
  const pick = async (name: string) => (await file(name + STAGED)) ?? (await file(name));
  const finished = load(committed, await pick(INDEX_FILE), await pick(ID_MAP_FILE));
  if (typeof finished !== 'string') {
    await commitStaged(dir);
    return { ok: true, snapshot: finished, recovered: true };
  }
  return { ok: false, reason: [current, ...reasons].join('; ') };
}

// An abandoned staged generation, and temporary files of writes a crash cut short (each can be
// as large as the index): nothing refers to them once a committed generation has loaded.
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of [INDEX_FILE, ID_MAP_FILE, STATS_FILE]) await fs.rm(path.join(dir, name + STAGED), { force: true });
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith('.') && name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true });
  }
}
