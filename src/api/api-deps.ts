// What the HTTP API works with: the running appliance's parts, through their interfaces only
// (the API never touches SQL, FAISS or the data-root layout).
import type { Storage } from '../../storage/index.js';
import type { Logger } from '../../storage/logger.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import type { DecisionThresholds } from '../recognition/decision.js';
import type { LearningPolicy } from '../recognition/auto-learning.js';
import type { UserDirectory } from '../recognition/user-directory.js';
import type { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';

export interface ApiDeps {
  storage: Storage;
  analyzer: FaceAnalyzer;
  users: UserDirectory;
  /** Unknown faces under review. */
  grouping: UnknownFaceGrouping;
  thresholds: DecisionThresholds;
  /** The guards an unknown group's assignment to a user passes. */
  learning: Readonly<LearningPolicy>;
  logger: Logger;
  /** Live numbers for /health and /metrics (null when no pipeline runs). */
  pipelineStats: () => PipelineStats | null;
  /** Per camera: id, state, frames received and dropped (from the camera sources). */
  cameraStats: () => { cameraId: string; state: string; framesReceived: number; framesDropped: number; lastFrameAt: Date | null }[];
  /** The active inference providers, for /health. */
  inference: { detector: { name: string; provider: string; fallback: string | null }; embedder: { name: string; provider: string; fallback: string | null } };
}
