// Who is in this picture: every face found gets a decision, known (with the user and score) or
// unknown (with the reason). The single-image counterpart of the live pipeline's track decisions.
import type { EmbeddingStore } from '../../storage/embeddings/embedding-store.js';
import type { FaceAnalysis } from '../vision/face-analyzer.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import type { RgbImage } from '../vision/types.js';
import {
  DEFAULT_DECISION_THRESHOLDS,
  type DecisionThresholds,
  decideFace,
  type FaceDecision,
  type UserStatusLookup,
} from './decision.js';
import type { UserThresholdLookup } from './user-thresholds.js';

/**
 * Matches searched per face. It must exceed the most embeddings one user can have
 * (MAX_EMBEDDINGS_PER_USER in enrollment.ts, 20: an enrollment takes at most 20 photos,
 * auto-learning stops at 20), or a user's own embeddings could fill every slot and hide the
 * runner-up user, and the margin rule would never see a lookalike.
 */
export const SEARCH_K = 64;

export interface IdentifiedFace extends FaceDecision {
  analysis: FaceAnalysis;
}

/** The decision for one analysed face (shared by identify and the live pipeline). */
export async function decideAnalysis(
  analysis: FaceAnalysis,
  embeddings: EmbeddingStore,
  statusOf: UserStatusLookup,
  thresholds: Readonly<DecisionThresholds>,
  /** Per-user thresholds raised by corrections (the user directory's thresholdOf). */
  thresholdOf?: UserThresholdLookup,
): Promise<FaceDecision> {
  if (!analysis.embedding) {
    return {
      decision: 'unknown',
      userId: null,
      score: 0,
      margin: 0,
      reason: `quality: ${analysis.quality.reasons.join(', ')}`,
    };
  }
  return decideFace(await embeddings.search(analysis.embedding.vector, SEARCH_K), statusOf, thresholds, thresholdOf);
}

export async function identify(
  deps: {
    analyzer: FaceAnalyzer;
    embeddings: EmbeddingStore;
    statusOf: UserStatusLookup;
    thresholdOf?: UserThresholdLookup;
    thresholds?: DecisionThresholds;
  },
  image: RgbImage,
): Promise<IdentifiedFace[]> {
  const t = deps.thresholds ?? DEFAULT_DECISION_THRESHOLDS;
  const out: IdentifiedFace[] = [];
  // A picture to identify is a still photo (the CLI, the API): one cut to the face gets the
  // detector's second look with a margin, as at enrolment (src/vision/face-analyzer.ts).
  for (const analysis of await deps.analyzer.analyze(image, { stillPhoto: true })) {
    out.push({ ...(await decideAnalysis(analysis, deps.embeddings, deps.statusOf, t, deps.thresholdOf)), analysis });
  }
  return out;
}

/** The published shape of one identified face (ARCHITECTURE.md: `facegate identify --json`, the API's /identify). */
export function identifiedFaceJson(f: IdentifiedFace) {
  return {
    box: f.analysis.face.box.map((v) => Number(v.toFixed(1))),
    quality: Number(f.analysis.quality.score.toFixed(3)),
    decision: f.decision,
    userId: f.userId,
    score: Number(f.score.toFixed(4)),
    reason: f.reason,
  };
}
