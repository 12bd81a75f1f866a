// What the HTTP API works with: the running appliance's parts, through their interfaces only
// (the API never touches SQL, FAISS or the data-root layout).
import type { Storage } from '../../storage/index.js';
import { type Logger, silentLogger } from '../../storage/logger.js';
import type { OutputStats } from '../outputs/outputs.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import { DEFAULT_LEARNING_POLICY, type LearningPolicy } from '../recognition/auto-learning.js';
import { DEFAULT_DECISION_THRESHOLDS, type DecisionThresholds } from '../recognition/decision.js';
import { type SiteThreshold, siteMatchThreshold } from '../recognition/site-threshold.js';
import type { UserDirectory } from '../recognition/user-directory.js';
import { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import type { Vision } from '../vision/index.js';

export interface ApiDeps {
  storage: Storage;
  analyzer: FaceAnalyzer;
  users: UserDirectory;
  /** Unknown faces under review. */
  grouping: UnknownFaceGrouping;
  thresholds: DecisionThresholds;
  /** Where the match threshold came from (configured, calibrated, default), for /health's warnings. */
  siteThreshold: () => SiteThreshold;
  /** The guards an unknown group's assignment to a user passes. */
  learning: Readonly<LearningPolicy>;
  logger: Logger;
  /** Live numbers for /health and /metrics (null when no pipeline runs). */
  pipelineStats: () => PipelineStats | null;
  /** Per camera: id, state, frames received and dropped (from the camera sources). */
  cameraStats: () => {
    cameraId: string;
    state: string;
    framesReceived: number;
    framesDropped: number;
    lastFrameAt: Date | null;
  }[];
  /** Each configured output's state (src/outputs/outputs.ts), for /health and /metrics. */
  outputStats: () => OutputStats[];
  /** The active inference providers, for /health. */
  inference: {
    detector: { name: string; provider: string; fallback: string | null };
    embedder: { name: string; provider: string; fallback: string | null };
  };
}

/**
 * The API's parts for an appliance without cameras or a pipeline (a benchmark, the tests): the
 * default decision thresholds and learning guards, its own unknown-face grouping, and the
 * inference providers the vision it is given runs on. `serve` builds its own from the config.
 */
export function cameralessApiDeps(parts: {
  storage: Storage;
  vision: Vision;
  users: UserDirectory;
  logger?: Logger;
}): ApiDeps {
  const { storage, vision, users } = parts;
  const logger = parts.logger ?? silentLogger;
  return {
    storage,
    analyzer: vision.analyzer,
    users,
    grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, logger),
    thresholds: DEFAULT_DECISION_THRESHOLDS,
    siteThreshold: () => siteMatchThreshold(undefined, null),
    learning: DEFAULT_LEARNING_POLICY,
    logger,
    pipelineStats: () => null,
    cameraStats: () => [],
    outputStats: () => [],
    inference: { detector: vision.detector, embedder: vision.embedder },
  };
}
