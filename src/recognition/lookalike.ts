// Lookalike pressure (issue 13): a new person's faces scored against everyone already enrolled.
// The nearest other person is reported at enrolment and in `users show`; a new person close to an
// enrolled one (user-thresholds.ts lookalikeLine) is enrolled only with match corrections that raise
// both their thresholds above that score, and refused when a raised threshold would also refuse
// either person's own photos (the new person's, or the enrolled person's, who would otherwise be
// locked out by someone else's enrolment): then the two could not be told apart by this model.
import type { EmbeddingStore } from '../../storage/embeddings/embedding-store.js';
import type { NewMatchCorrection } from '../../storage/db/db-store.js';
import { SEARCH_K } from './identify.js';
import { leaveOneOutScores } from './similarity.js';
import { locksOut, lookalikeLine, raisedThreshold } from './user-thresholds.js';

export interface NearestPerson {
  userId: string;
  /** The best score of these faces against that person's gallery. */
  score: number;
}

/** Every other enrolled person these faces reach in the index, nearest first, with the face that reached them. */
export async function nearestOthers(
  embeddings: EmbeddingStore,
  vectors: readonly Float32Array[],
  self: string,
): Promise<(NearestPerson & { face: number })[]> {
  const best = new Map<string, NearestPerson & { face: number }>();
  for (const [face, vector] of vectors.entries()) {
    for (const m of await embeddings.search(vector, SEARCH_K)) {
      if (m.userId === self) continue;
      const now = best.get(m.userId);
      if (!now || m.score > now.score) best.set(m.userId, { userId: m.userId, score: m.score, face });
    }
  }
  return [...best.values()].sort((a, b) => b.score - a.score || a.userId.localeCompare(b.userId));
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * How well a gallery recognises its own person: the median of its leave-one-out scores. A threshold
 * above it refuses most of the person's own photos against the rest of their gallery, and would
 * refuse them at the door too. Null with fewer than two photos (nothing to score against).
 */
export function ownPhotoScore(vectors: readonly Float32Array[]): number | null {
  return vectors.length < 2 ? null : median(leaveOneOutScores(vectors));
}

export interface LookalikeVerdict {
  nearest: NearestPerson | null;
  /** Enrolled people close to the new one: each gets a correction, and the new person one per each. */
  lookalikes: NearestPerson[];
  /** The new person's own threshold after those corrections (the site's when none). */
  threshold: number;
  corrections: NewMatchCorrection[];
  /** Why the enrolment must be refused (a raised threshold refuses the new or an enrolled person's own photos); null when it may go on. */
  refusal: string | null;
}

const fmt = (v: number) => v.toFixed(3);

/**
 * Judges a new person's faces (already checked to be one person and to match nobody at the site's
 * threshold) against the enrolled gallery. The corrections are for createUser's transaction.
 */
export async function judgeLookalikes(
  embeddings: EmbeddingStore,
  person: { userId: string; vectors: readonly Float32Array[] },
  site: number,
  actor: string,
  /** An enrolled person's gallery for the model in use (their photos are checked like the new person's). */
  galleryOf: (userId: string) => Promise<readonly Float32Array[]>,
): Promise<LookalikeVerdict> {
  const others = await nearestOthers(embeddings, person.vectors, person.userId);
  const nearest = others[0] ? { userId: others[0].userId, score: others[0].score } : null;
  const line = lookalikeLine(site);
  const close = others.filter((o) => o.score >= line);
  if (close.length === 0) return { nearest, lookalikes: [], threshold: site, corrections: [], refusal: null };

  const modelId = embeddings.modelId;
  const corrections: NewMatchCorrection[] = [];
  for (const o of close) {
    const details = { line, site };
    // The enrolled person must not be named for the new one's face (kept with its vector) ...
    corrections.push({
      actor,
      userId: o.userId,
      source: 'lookalike',
      score: o.score,
      modelId,
      vector: person.vectors[o.face] ?? null,
      details: { ...details, lookalikeOf: person.userId },
    });
    // ... nor the new person for the enrolled one's.
    corrections.push({
      actor,
      userId: person.userId,
      source: 'lookalike',
      score: o.score,
      modelId,
      details: { ...details, lookalikeOf: o.userId },
    });
  }
  const raise = raisedThreshold(Math.max(...close.map((o) => o.score)));
  const threshold = Math.max(site, raise);
  const lookalikes = close.map((o) => ({ userId: o.userId, score: o.score }));
  const names = close.map((o) => `${o.userId} (${fmt(o.score)})`).join(', ');
  const own = ownPhotoScore(person.vectors);
  if (locksOut(raise, site, own)) {
    const refusal =
      `${person.userId} is too close to ${names} to be told apart: to keep them from being taken for each other ${person.userId}'s own ` +
      `threshold would be ${fmt(threshold)}, but ${person.userId}'s own photos score each other only ${fmt(own ?? 0)} (median best of the others), ` +
      `so ${person.userId} would not be recognised either`;
    return { nearest, lookalikes, threshold, corrections, refusal };
  }
  // Each enrolled person's threshold rises too: it must not refuse their own photos either, or
  // enrolling a newcomer would lock out someone who was recognised until now.
  const lockedOut: string[] = [];
  for (const o of close) {
    const theirs = ownPhotoScore(await galleryOf(o.userId));
    const theirRaise = raisedThreshold(o.score);
    if (locksOut(theirRaise, site, theirs)) {
      lockedOut.push(
        `${person.userId} is too close to ${o.userId} (${fmt(o.score)}) to be told apart: to keep them from being taken for each other ${o.userId}'s ` +
          `own threshold would be ${fmt(theirRaise)}, but ${o.userId}'s own photos score each other only ${fmt(theirs ?? 0)} (median best of the others), ` +
          `so ${o.userId}, already enrolled, would no longer be recognised`,
      );
    }
  }
  return { nearest, lookalikes, threshold, corrections, refusal: lockedOut.length ? lockedOut.join('; ') : null };
}
