// Auto-learning: a recognised face may join its user's gallery, so the appliance keeps up with
// beards, glasses and ageing. Off by default (the LLD: "no auto-learning unless confidence >
// threshold", "false positive risk: block auto-learning"): when on, only a face far above the
// match threshold, far ahead of anyone else, of top quality, not a near-copy of an embedding the
// user already has, and within a per-user cap. Never from an unknown or ambiguous decision.
import type { Storage } from '../../storage/index.js';
import type { Logger } from '../../storage/logger.js';
import type { FaceAnalysis } from '../vision/face-analyzer.js';
import { encodePng } from '../vision/image-input.js';
import type { FaceDecision } from './decision.js';
import { MAX_EMBEDDINGS_PER_USER } from './enrollment.js';
import { SEARCH_K } from './identify.js';
import { withUserLock } from './user-lock.js';

export interface LearningPolicy {
  enabled: boolean;
  /** 0.70: well above the match threshold (0.45), in the upper half of same-person scores (0.54-0.97). */
  learnThreshold: number;
  /** 0.30: three times the decision margin. */
  minMargin: number;
  /** 0.9: the quality gate's score, near the top of the accepted range. */
  minQuality: number;
  /** 0.95: above this the face adds nothing (same photo, next frame). */
  maxSimilarityToOwn: number;
  /** Embeddings per user, enrolled plus learned: keeps one person from dominating the index. */
  maxEmbeddingsPerUser: number;
}

export const DEFAULT_LEARNING_POLICY: Readonly<LearningPolicy> = Object.freeze({
  enabled: false,
  learnThreshold: 0.7,
  minMargin: 0.3,
  minQuality: 0.9,
  maxSimilarityToOwn: 0.95,
  maxEmbeddingsPerUser: MAX_EMBEDDINGS_PER_USER,
});

export type LearningOutcome = { learned: true; embeddingId: bigint } | { learned: false; reason: string };

/** Considers one face of a track decided "known"; learns it when every guard passes. */
export async function considerLearning(
  deps: { storage: Storage; logger: Logger; policy: Readonly<LearningPolicy> },
  verdict: FaceDecision,
  face: FaceAnalysis,
  cameraId: string,
): Promise<LearningOutcome> {
  const { storage, policy } = deps;
  const userId = verdict.userId;
  if (!policy.enabled) return { learned: false, reason: 'auto-learning is off' };
  if (verdict.decision !== 'known' || !userId) return { learned: false, reason: 'only a known decision can teach' };
  if (!face.embedding) return { learned: false, reason: 'no embedding' };
  const embedding = face.embedding;
  // Under the user's lock: a deletion of this user cannot slip between the row and the index.
  const outcome = await withUserLock(userId, async (): Promise<LearningOutcome> => {
    const refusal = await learningRefusal(storage, policy, userId, embedding.vector, face.quality.score);
    if (refusal) return { learned: false, reason: refusal };
    const crop = await storage.images.saveAligned(userId, await encodePng(face.aligned), {
      cameraId,
      qualityScore: face.quality.score,
    });
    const [record] = await storage.db.addEmbeddings(userId, [
      { image: crop.file, modelId: embedding.modelId, vector: embedding.vector },
    ]);
    if (!record) throw new Error('the database returned no embedding row');
    await storage.embeddings.add([
      { embeddingId: record.id, userId, image: record.image, modelId: record.modelId, vector: record.vector },
    ]);
    return { learned: true, embeddingId: record.id };
  });
  if (outcome.learned)
    deps.logger.info(
      { userId, embeddingId: outcome.embeddingId.toString(), camera: cameraId },
      'auto-learning: embedding added',
    );
  return outcome;
}

/**
 * The guards a face must pass to join a user's gallery without an enrollment (auto-learning, and
 * an operator assigning reviewed unknown faces): why not, or null when it may.
 */
export async function learningRefusal(
  storage: Storage,
  policy: Readonly<LearningPolicy>,
  userId: string,
  vector: Float32Array,
  qualityScore: number,
): Promise<string | null> {
  if (policy.maxEmbeddingsPerUser > MAX_EMBEDDINGS_PER_USER) {
    return `maxEmbeddingsPerUser above ${MAX_EMBEDDINGS_PER_USER} would hide runner-up users from the search`;
  }
  if (qualityScore < policy.minQuality) return `quality ${qualityScore.toFixed(2)} below ${policy.minQuality}`;
  // This face's own matches, not a track's average: it must clear the bars by itself.
  const matches = await storage.embeddings.search(vector, SEARCH_K);
  const own = Math.max(...matches.filter((m) => m.userId === userId).map((m) => m.score), -1);
  const other = Math.max(...matches.filter((m) => m.userId !== userId).map((m) => m.score), -1);
  if (own < policy.learnThreshold)
    return `score ${own.toFixed(3)} to ${userId} below the learn threshold ${policy.learnThreshold}`;
  if (own - other < policy.minMargin)
    return `margin ${(own - other).toFixed(3)} over other users below ${policy.minMargin}`;
  if (own > policy.maxSimilarityToOwn) return `near-duplicate of an existing embedding (${own.toFixed(3)})`;
  if ((await storage.db.countEmbeddings(userId)) >= policy.maxEmbeddingsPerUser) {
    return `${userId} has reached ${policy.maxEmbeddingsPerUser} embeddings`;
  }
  return null;
}
