// What the data commands (enroll, users, identify, events) open: the storage layer on the data
// root, and the vision models when the command runs them. Until the service's configuration file
// exists, locations come from the environment (src/config/environment.ts) with the demo defaults.
import path from 'node:path';

import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { readEnvironment } from '../config/environment.js';
import { projectRoot } from '../project-root.js';
import { embeddingModelOf, openVision, type Vision, type VisionOptions } from '../vision/index.js';

export interface Context {
  storage: Storage;
  vision: Vision | null;
  close(): Promise<void>;
}

export async function openContext(options: { vision: false } | ({ vision: true } & VisionOptions)): Promise<Context> {
  const env = readEnvironment();
  let vision: Vision | null = null;
  let model: { id: string; dim: number };
  if (options.vision) {
    const { vision: _flag, ...visionOptions } = options;
    vision = await openVision({ ...(env.modelsDir ? { modelsDir: env.modelsDir } : {}), ...visionOptions });
    model = { id: vision.embedder.modelId, dim: vision.embedder.dim };
  } else {
    model = await embeddingModelOf();
  }
  const config = parseStorageConfig({
    // The demo's data root (ARCHITECTURE.md); a service install sets FACEGATE_DATA_DIR.
    dataRoot: env.dataDir ?? path.join(projectRoot(), 'var', 'storage'),
    ...(env.databaseUrl ? { databaseUrl: env.databaseUrl } : {}),
    ...(env.redisUrl ? { redisUrl: env.redisUrl } : {}),
  });
  const storage = await openStorage(config, { embeddingModel: model });
  return { storage, vision, close: () => storage.close() };
}
