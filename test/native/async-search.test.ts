import { beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors, sequentialIds } from '../../src/bench/random-vectors.js';
import { FlatIndex, type SearchResult } from '../../core/native/index.js';
import { expectIdentical } from './reference.js';

const dim = 128;
const n = 1_000_000;
let index: FlatIndex;
let queries: Float32Array;

beforeAll(() => {
  index = FlatIndex.create(dim);
  for (let first = 0; first < n; first += 100_000) {
    index.add(randomUnitVectors(100_000, dim, first + 1), sequentialIds(100_000, first));
  }
  // 200 queries over 1M vectors: a search that takes a good fraction of a second on two cores.
  queries = randomUnitVectors(200, dim, 7);
});

/** Counts how often a 2 ms interval timer fires while `work` runs. */
async function ticksDuring(work: () => unknown): Promise<{ ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  clearInterval(timer);
  return { ticks, ms };
}

describe('FlatIndex.search runs off the JavaScript thread', () => {
  it('lets timers fire during a long search over 1M vectors', async () => {
    expect(index.size).toBe(n);
    const { ticks, ms } = await ticksDuring(() => index.search(queries, 10));
    expect(ms).toBeGreaterThan(40);
    // At least a quarter of the 2 ms slots: the event loop kept turning.
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 8));
  });

  it('(the same work through searchSync blocks the loop: the measurement can tell)', async () => {
    const { ticks } = await ticksDuring(() => {
      index.searchSync(queries, 10);
    });
    expect(ticks).toBe(0);
  });

  it('gives the same results for several searches at once as one by one', async () => {
    const parts = [0, 1, 2, 3].map((p) => queries.subarray(p * 10 * dim, (p + 1) * 10 * dim));
    const together = await Promise.all(parts.map((q) => index.search(q, 5)));
    parts.forEach((q, p) => {
      expectIdentical(together[p] as SearchResult, index.searchSync(q, 5));
    });
  });

  it('keeps add and remove safe while searches run', async () => {
    const probe = queries.subarray(0, dim);
    const before = index.searchSync(probe, 3);
    const running = [index.search(queries, 3), index.search(probe, 3)];
    // An exact copy of the probe: after this add, it is the probe's best match.
    index.add(probe.slice(), new BigInt64Array([5_000_000n]));
    const afterAdd = index.searchSync(probe, 3);
    expect(afterAdd.ids[0]).toBe(5_000_000n);
    const alsoRunning = index.search(probe, 3);
    expect(index.remove(new BigInt64Array([5_000_000n]))).toBe(1);

    const [batch, single] = (await Promise.all(running)) as [SearchResult, SearchResult];
    // A search queued before the add sees the index before or after it, never a mix.
    expect([before.ids[0], afterAdd.ids[0]]).toContain(single.ids[0]);
    expect(batch.ids.subarray(0, 3)).toEqual(single.ids);
    const third = await alsoRunning;
    expect([before.ids[0], afterAdd.ids[0]]).toContain(third.ids[0]);
    expectIdentical(index.searchSync(probe, 3), before);
    expect(index.size).toBe(n);
  });
});
