// writeSnapshot's index file and its hash now that the index is serialized off the JavaScript
// thread (serializeAsync) and hashed in 16 MiB slices: the file is serialize()'s bytes, the hash in
// stats.json is the file's sha256, and readSnapshot loads the generation back.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FlatIndex } from '../../../core/native/index.js';
import { randomUnitVectors, sequentialIds } from '../../../src/bench/random-vectors.js';
import { type IdMapEntry, INDEX_FILE, readSnapshot, writeSnapshot } from '../../../storage/embeddings/snapshot.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-snapshot-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeSnapshot', () => {
  it('writes serialize()’s bytes with their sha256 over several hash slices, and reads them back', async () => {
    // 20,000 x 512: a 42 MB index file, three 16 MiB slices for the hash (the last one partial).
    const dim = 512;
    const n = 20_000;
    const index = FlatIndex.create(dim);
    index.add(randomUnitVectors(n, dim, 3), sequentialIds(n, 1));
    const idMap = new Map<bigint, IdMapEntry>();
    for (let i = 1; i <= n; i++) idMap.set(BigInt(i), { userId: `U${i % 997}`, image: 'face_001.png' });

    const stats = await writeSnapshot(dir, index, idMap, 'test-model@1', 7, 42n);
    const file = await readFile(path.join(dir, INDEX_FILE));
    expect(file.length).toBeGreaterThan(2 * 16 * 1024 * 1024);
    expect(file.equals(index.serialize())).toBe(true);
    expect(stats.files[INDEX_FILE]).toEqual({
      sha256: createHash('sha256').update(file).digest('hex'),
      bytes: file.length,
    });
    expect(stats).toMatchObject({ generation: 7, count: n, users: 997, dim, applied_seq: '42' });

    const read = await readSnapshot(dir);
    if (!read.ok) throw new Error(read.reason);
    expect(read.recovered).toBe(false);
    expect(read.snapshot.index.size).toBe(n);
    expect(read.snapshot.idMap.size).toBe(n);
    expect(read.snapshot.stats.files).toEqual(stats.files);
  });

  it('writes an empty index', async () => {
    const stats = await writeSnapshot(dir, FlatIndex.create(8), new Map(), 'test-model@1', 1);
    const read = await readSnapshot(dir);
    if (!read.ok) throw new Error(read.reason);
    expect(read.snapshot.index.size).toBe(0);
    expect(stats.count).toBe(0);
  });
});
