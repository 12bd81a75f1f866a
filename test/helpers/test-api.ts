// The HTTP API on a test appliance, as `serve` builds it but without cameras or a pipeline:
// the real stores, models, user directory and unknown-face grouping, and its token.
import type { FastifyInstance } from 'fastify';

import { type ApiDeps, cameralessApiDeps } from '../../src/api/api-deps.js';
import { buildApi } from '../../src/api/server.js';
import { loadOrCreateToken } from '../../src/api/token.js';
import { UserDirectory } from '../../src/recognition/user-directory.js';
import type { TestAppliance } from './test-appliance.js';

export async function openTestApi(
  appliance: TestAppliance,
): Promise<{ app: FastifyInstance; deps: ApiDeps; token: string }> {
  const { storage, vision, dataRoot } = appliance;
  const users = new UserDirectory(storage.db, storage.embeddings.modelId);
  await users.refresh();
  const deps = cameralessApiDeps({ storage, vision, users });
  const token = await loadOrCreateToken(dataRoot);
  const app = buildApi(deps, { token });
  await app.ready();
  return { app, deps, token };
}
