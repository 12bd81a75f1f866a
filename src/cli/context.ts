// What the data commands (enroll, users, identify, events, index) open: the storage layer on the
// configured data root, and the vision models when the command runs them. The configuration is
// FACEGATE_CONFIG's file (or the defaults) with the environment overrides (src/config/config.ts).
import { openStorage, type Storage } from '../../storage/index.js';
import { type AppConfig, loadConfig, storageConfigOf, visionOptionsOf } from '../config/config.js';
import { readSiteThreshold, type SiteThreshold } from '../recognition/site-threshold.js';
import { embeddingModelOf, openVision, type Vision, type VisionOptions } from '../vision/index.js';

export interface Context {
  config: AppConfig;
  storage: Storage;
  vision: Vision | null;
  /** The embedding model in use: the index holds only its vectors, calibrations are per model. */
  model: { id: string; dim: number };
  /** The site's match threshold (configured, calibrated for this model, or the default): src/recognition/site-threshold.ts. */
  siteThreshold(): Promise<SiteThreshold>;
  close(): Promise<void>;
}

export async function openContext(options: { vision: false } | ({ vision: true } & VisionOptions)): Promise<Context> {
  const app = await loadConfig();
  let vision: Vision | null = null;
  let model: { id: string; dim: number };
  if (options.vision) {
    const { vision: _flag, ...visionOptions } = options;
    vision = await openVision({ ...visionOptionsOf(app), ...visionOptions });
    model = { id: vision.embedder.modelId, dim: vision.embedder.dim };
  } else {
    model = await embeddingModelOf(app.inference.embedder ? { embedder: app.inference.embedder } : {});
  }
  const storage = await openStorage(storageConfigOf(app), { embeddingModel: model });
  return {
    config: app,
    storage,
    vision,
    model,
    siteThreshold: () => readSiteThreshold(app.recognition.match, storage.db, model.id),
    close: () => storage.close(),
  };
}
