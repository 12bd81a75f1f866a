// The parts of a running appliance most tests need: the real vision models on the CPU, and the
// storage layer on a fresh data root with the shared PostgreSQL, in a schema of its own. close()
// undoes all of it.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openVision, type Vision } from '../../src/vision/index.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { MODELS_DIR } from './shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from './shared-servers.js';

export interface TestAppliance {
  dataRoot: string;
  vision: Vision;
  storage: Storage;
  close(): Promise<void>;
}

export async function openTestAppliance(name: string): Promise<TestAppliance> {
  const schema = uniqueSchema();
  const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), `facegate-${name}-`));
  const vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
  const storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL }), {
    embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim },
    schema,
  });
  return {
    dataRoot,
    vision,
    storage,
    async close() {
      await storage.close();
      await dropSchema(SHARED_POSTGRES_URL, schema);
      await fs.rm(dataRoot, { recursive: true, force: true });
    },
  };
}
