// Cosine similarity of two L2-normalised embeddings (their dot product): for the few comparisons
// made outside the index (one enrollment's photos with each other, a track's faces, a reviewed
// group's faces). Searching many vectors is the index's job.
export function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** The best cosine of a probe against a set of embeddings (a user's score, as decideFace takes it); -Infinity for none. */
export function bestCosine(
  probe: Float32Array,
  vectors: readonly Float32Array[],
  skip: Float32Array | null = null,
): number {
  let top = -Infinity;
  for (const v of vectors) if (v !== skip) top = Math.max(top, cosine(probe, v));
  return top;
}

/** Each embedding's best score against the others of its set (leave one out): how well a gallery recognises its own person. */
export function leaveOneOutScores(vectors: readonly Float32Array[]): number[] {
  return vectors.map((v) => bestCosine(v, vectors, v));
}
