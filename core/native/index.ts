// The typed face of the native addon (native/, built to build/Release/facegate.node). This is
// the only module that loads the .node file; everything else imports from here.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { projectRoot } from '../project-root.js';
import { describe, requireBigInt64Array, requireFloat32Array, requireInteger, requireRows } from './args.js';

export type SimdLevel = 'scalar' | 'sse2' | 'avx2' | 'avx512' | 'neon';

/**
 * exact-fp32 scans the fp32 vectors; fp16-rerank (the default) scans a half-precision copy, half
 * the bytes, and re-ranks a shortlist that provably holds the exact top k
 * (native/search/exact_scan.cc): both return FAISS's exact results.
 */
export type SearchMode = 'exact-fp32' | 'fp16-rerank';
export const SEARCH_MODES: readonly SearchMode[] = ['exact-fp32', 'fp16-rerank'];

export interface IndexMemory {
  fp32Bytes: number;
  /** The fp16 copy: half the fp32 size (0 when the index holds values beyond half range). */
  fp16Bytes: number;
  fp16Usable: boolean;
}

/** Top-k results for nq queries: row q's matches are at [q * k, q * k + k), best first. */
export interface SearchResult {
  scores: Float32Array;
  ids: BigInt64Array;
}

interface NativeFlatIndex {
  add(vectors: Float32Array, ids: BigInt64Array): void;
  remove(ids: BigInt64Array): number;
  search(queries: Float32Array, k: number): Promise<SearchResult>;
  searchSync(queries: Float32Array, k: number): SearchResult;
  faissSearchSync(queries: Float32Array, k: number): SearchResult;
  serialize(): Buffer;
  serializeAsync(): Promise<Buffer>;
  ids(): BigInt64Array;
  readonly size: number;
  readonly dim: number;
  searchMode: SearchMode;
  memory(): IndexMemory;
}

interface NativeAddon {
  FlatIndex: { new (dim: number): NativeFlatIndex; deserialize(bytes: Uint8Array): NativeFlatIndex };
  normalize(vectors: Float32Array, dim: number): void;
  simd(): { detected: SimdLevel; active: SimdLevel; threads: number };
  setSimdLevel(level: SimdLevel): boolean;
  cpu(): CpuInfo;
  measureReadBandwidth(bytes: number, repeats: number): number;
}

export const MAX_DIM = 65536;
/** The largest k a search accepts (native/flat_index.cc). */
export const MAX_K = 4096;

const addonFile = path.join('build', 'Release', 'facegate.node');

function loadAddon(): NativeAddon {
  // Debian's FAISS and OpenBLAS share two cores through OpenMP; busy-waiting OpenMP threads
  // slow every batch 2-4x (TOOLING.md). The OpenMP runtime reads this once, when the addon loads.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const file = path.join(projectRoot(), addonFile);
  if (!existsSync(file)) {
    throw new Error(
      `facegate: the native addon is not built (expected ${file}). Build it with \`npm run build\` ` +
        '(needs cmake, a C++17 compiler and FAISS: on Debian/Ubuntu `apt-get install -y libfaiss-dev libopenblas-dev cmake`; on Windows see README.md).',
    );
  }
  return createRequire(import.meta.url)(file) as NativeAddon;
}

const addon = loadAddon();

/**
 * An exact inner-product index (FAISS IndexIDMap2 over IndexFlatIP) with stable 64-bit ids.
 * Searches run on every core with the widest SIMD the CPU has and return exactly what FAISS's own
 * search returns (native/search/exact_scan.cc says why).
 */
export class FlatIndex {
  private constructor(private readonly native: NativeFlatIndex) {}

  static create(dim: number, options: { searchMode?: SearchMode } = {}): FlatIndex {
    const index = new FlatIndex(new addon.FlatIndex(requireInteger('dim', dim, 1, MAX_DIM)));
    if (options.searchMode !== undefined) index.searchMode = options.searchMode;
    return index;
  }

  /** Restores an index from serialize()'s bytes; refuses truncated, corrupted or foreign bytes. */
  static deserialize(bytes: Uint8Array, expectedDim?: number, options: { searchMode?: SearchMode } = {}): FlatIndex {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`Expected a Buffer or Uint8Array to deserialize but received ${describe(bytes)}`);
    }
    const index = new FlatIndex(addon.FlatIndex.deserialize(bytes));
    if (options.searchMode !== undefined) index.searchMode = options.searchMode;
    if (expectedDim !== undefined && index.dim !== expectedDim) {
      throw new RangeError(`Expected a serialized index of dim ${expectedDim} but received one of dim ${index.dim}`);
    }
    return index;
  }

  get dim(): number {
    return this.native.dim;
  }

  get size(): number {
    return this.native.size;
  }

  get searchMode(): SearchMode {
    return this.native.searchMode;
  }

  set searchMode(mode: SearchMode) {
    if (!SEARCH_MODES.includes(mode)) {
      throw new TypeError(`Expected searchMode ${SEARCH_MODES.join(' or ')} but received ${describe(mode)}`);
    }
    this.native.searchMode = mode;
  }

  /** What the index holds in RAM: the fp32 vectors and the fp16 copy. */
  memory(): IndexMemory {
    return this.native.memory();
  }

  /** Adds vectors (n * dim floats) with one id each. All or nothing: a duplicate id, a negative id or a non-finite value adds none. */
  add(vectors: Float32Array, ids: BigInt64Array): void {
    const n = requireRows('vectors', requireFloat32Array('vectors', vectors), this.dim);
    requireBigInt64Array('ids', ids);
    if (ids.length !== n) {
      throw new RangeError(`Expected one id per vector (${n}) but received ${describe(ids)}`);
    }
    this.native.add(vectors, ids);
  }

  /** Removes the given ids; ids not in the index are ignored. Returns how many were removed. */
  remove(ids: BigInt64Array): number {
    return this.native.remove(requireBigInt64Array('ids', ids));
  }

  /** Searches off the JavaScript thread. Several searches may run at once, and add/remove wait for them. */
  search(queries: Float32Array, k: number): Promise<SearchResult> {
    try {
      this.checkQuery(queries, k);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.native.search(queries, k);
  }

  /** The same search on the calling thread, for tools and benchmarks. */
  searchSync(queries: Float32Array, k: number): SearchResult {
    this.checkQuery(queries, k);
    return this.native.searchSync(queries, k);
  }

  /** FAISS's own IndexIDMap2::search, the reference our search is compared against. */
  faissSearchSync(queries: Float32Array, k: number): SearchResult {
    this.checkQuery(queries, k);
    return this.native.faissSearchSync(queries, k);
  }

  /** The index as bytes for deserialize() (FAISS's format inside a checked header), on the calling thread. */
  serialize(): Buffer {
    return this.native.serialize();
  }

  /**
   * serialize() off the JavaScript thread (libuv's pool): the same bytes, of the index as it was
   * when this was called. Searches keep answering meanwhile; an add or remove waits, on the calling
   * thread, while FAISS copies the index out (~0.1 s of the ~0.23 s at 100,000 x 512; the checksum
   * after it holds no lock). An add or remove made before that copy begins rejects the promise (the
   * bytes would be of another index): change the index only after it settles, as the snapshot's
   * serial queue does.
   */
  serializeAsync(): Promise<Buffer> {
    try {
      return this.native.serializeAsync();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Every id in the index, in storage order. */
  ids(): BigInt64Array {
    return this.native.ids();
  }

  private checkQuery(queries: Float32Array, k: number): void {
    requireRows('queries', requireFloat32Array('queries', queries), this.dim, false);
    requireInteger('k', k, 1, MAX_K);
  }
}

/** L2-normalises n vectors of dim floats in place (SIMD). All or nothing: a zero or non-finite vector throws and changes nothing. */
export function normalize(vectors: Float32Array, dim: number): void {
  requireFloat32Array('vectors', vectors);
  requireRows('vectors', vectors, requireInteger('dim', dim, 1, MAX_DIM));
  addon.normalize(vectors, dim);
}

/** The SIMD level the CPU supports, the one in use, and how many threads a search uses. */
export function simdInfo(): { detected: SimdLevel; active: SimdLevel; threads: number } {
  return addon.simd();
}

export interface CpuInfo {
  /** cpuid's vendor: "GenuineIntel", "AuthenticAMD" ("arm" on arm64). */
  vendor: string;
  /** The brand string ("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"); empty where the CPU has none. */
  model: string;
  /** The extensions that matter to inference and search, where the OS also saves their registers. */
  features: string[];
}

/** This CPU, as benchmarks and `doctor` print it so that figures from two sites can be compared. */
export function cpuInfo(): CpuInfo {
  return addon.cpu();
}

/** Switches the kernels to `level` (for tests and benchmarks). Returns false if this CPU cannot run it. */
export function setSimdLevel(level: SimdLevel): boolean {
  return addon.setSimdLevel(level);
}

/** Best-of-`repeats` memory-read bandwidth in GB/s over a buffer of `bytes`, on every core. */
export function measureReadBandwidth(bytes: number, repeats = 5): number {
  return addon.measureReadBandwidth(
    requireInteger('bytes', bytes, 1, 2 ** 36),
    requireInteger('repeats', repeats, 1, 1000),
  );
}
