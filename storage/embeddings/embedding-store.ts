// EmbeddingStore: the face embeddings searched on every frame. The default implementation
// (flat-embedding-store.ts) is the native FAISS FlatIndex with the LLD's snapshot files.

export interface EmbeddingMatch {
  userId: string;
  image: string;
  score: number;
  embeddingId: bigint;
}

export interface EmbeddingEntry {
  /** The face_embeddings row id: stable, and the index's id for the vector. */
  embeddingId: bigint;
  userId: string;
  image: string;
  modelId: string;
  vector: Float32Array;
}

export interface EmbeddingStats {
  modelId: string;
  dim: number;
  count: number;
  users: number;
  /** Snapshot generation on disk (0: never saved). */
  generation: number;
  savedAt: string | null;
  /** Where the index in memory came from at start or at its last reload. */
  loadedFrom: 'snapshot' | 'database' | 'empty';
  /** False while the snapshot could not be compared with the database (it was down). */
  verified: boolean;
  /** RAM of the fp32 vectors. */
  indexBytes: number;
  /** RAM of the half-precision copy the default search scans (half of indexBytes). */
  fp16Bytes: number;
  searchMode: 'exact-fp32' | 'fp16-rerank';
}

export interface EmbeddingStore {
  readonly modelId: string;
  readonly dim: number;
  /** The k best matches for one normalised vector, best first. */
  search(vector: Float32Array, k: number): Promise<EmbeddingMatch[]>;
  /** Adds embeddings; on disk (a new snapshot generation) when this resolves. */
  add(entries: EmbeddingEntry[]): Promise<void>;
  /** Removes every embedding of a user; returns how many. */
  removeUser(userId: string): Promise<number>;
  removeIds(ids: bigint[]): Promise<number>;
  /** Rebuilds the index from the database's face_embeddings and saves it. */
  rebuild(): Promise<void>;
  /** Compares the index with the database; rebuilds when they differ. Returns whether it had to. */
  verify(): Promise<{ rebuilt: boolean; verified: boolean }>;
  stats(): EmbeddingStats;
  close(): Promise<void>;
}
