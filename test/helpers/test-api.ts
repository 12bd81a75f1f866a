// The HTTP API on a test appliance, as `serve` builds it but without cameras or a pipeline:
// the real stores, models, user directory and unknown-face grouping, and its token.
import type { FastifyInstance } from 'fastify';

import type { ApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken } from '../../src/api/token.js';
import { DEFAULT_LEARNING_POLICY } from '../../src/recognition/auto-learning.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { silentLogger } from '../../storage/logger.js';
import type { TestAppliance } from './test-appliance.js';

export async function openTestApi(appliance: TestAppliance): Promise<{ app: FastifyInstance; deps: ApiDeps; token: string }> {
  const { storage, vision, dataRoot } = appliance;
  const users = new UserDirectory(storage.db);
  await users.refresh();
  const deps: ApiDeps = {
    storage,
    analyzer: vision.analyzer,
    users,
    grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
    thresholds: DEFAULT_DECISION_THRESHOLDS,
    learning: DEFAULT_LEARNING_POLICY,
    logger: silentLogger,
    pipelineStats: () => null,
    cameraStats: () => [],
    inference: {
      detector: { name: vision.detector.name, provider: vision.detector.provider, fallback: vision.detector.fallback },
      embedder: { name: vision.embedder.name, provider: vision.embedder.provider, fallback: vision.embedder.fallback },
    },
  };
  const token = await loadOrCreateToken(dataRoot);
  const app = buildApi(deps, { token });
  await app.ready();
  return { app, deps, token };
}
