// What the data commands (enroll, users, identify, events, index) open: the storage layer on the
// configured data root, and the vision models when the command runs them. The configuration is
// FACEGATE_CONFIG's file (or the defaults) with the environment overrides (src/config/config.ts).
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { loadConfig } from '../config/config.js';
import { embeddingModelOf, openVision, type Vision, type VisionOptions } from '../vision/index.js';

export interface Context {
  storage: Storage;
  vision: Vision | null;
  close(): Promise<void>;
}

export async function openContext(options: { vision: false } | ({ vision: true } & VisionOptions)): Promise<Context> {
  const app = await loadConfig();
  let vision: Vision | null = null;
  let model: { id: string; dim: number };
  if (options.vision) {
    const { vision: _flag, ...visionOptions } = options;
    vision = await openVision({
      modelsDir: app.modelsDir,
      provider: app.inference.provider,
      ...(app.inference.detector ? { detector: app.inference.detector } : {}),
      ...(app.inference.embedder ? { embedder: app.inference.embedder } : {}),
      ...visionOptions,
    });
    model = { id: vision.embedder.modelId, dim: vision.embedder.dim };
  } else {
    model = await embeddingModelOf(app.inference.embedder ? { embedder: app.inference.embedder } : {});
  }
  const config = parseStorageConfig({
    dataRoot: app.dataDir,
    ...(app.database.url ? { databaseUrl: app.database.url } : {}),
    ...(app.redis.url ? { redisUrl: app.redis.url } : {}),
    cameraTtlSeconds: app.health.cameraTtlSeconds,
    workerTtlSeconds: app.health.workerTtlSeconds,
  });
  const storage = await openStorage(config, { embeddingModel: model });
  return { storage, vision, close: () => storage.close() };
}
