// Cosine similarity of two L2-normalised embeddings (their dot product): for the few comparisons
// made outside the index (one enrollment's photos with each other, a track's faces, a reviewed
// group's faces). Searching many vectors is the index's job.
export function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}
