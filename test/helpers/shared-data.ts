// The development and CI data beside the project (../shared, see the brief): real photos and the
// real model files, read in place and never copied into the repository. FACEGATE_SHARED_DIR
// points elsewhere when a checkout does not sit beside it.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';

import { readEnvironment } from '../../src/config/environment.js';
import { projectRoot } from '../../core/project-root.js';

function sharedDir(): string {
  const candidates = [process.env.FACEGATE_SHARED_DIR, path.resolve(projectRoot(), '..', 'shared'), '/work/shared'];
  const found = candidates.find((dir) => dir !== undefined && existsSync(path.join(dir, 'faces')));
  if (!found)
    throw new Error(`the shared test data (faces/, models/) is not at any of ${candidates.filter(Boolean).join(', ')}`);
  return found;
}

export const SHARED_DIR = sharedDir();
export const FACES_DIR = path.join(SHARED_DIR, 'faces');
export const MODELS_DIR = readEnvironment().modelsDir ?? path.join(SHARED_DIR, 'models');

/** The photos of one shared folder (obama/, biden/), in name order, as enrollment takes them. */
export async function sharedPhotos(folder: string): Promise<{ name: string; bytes: Buffer }[]> {
  const dir = path.join(FACES_DIR, folder);
  const files = (await fs.readdir(dir)).sort();
  return Promise.all(files.map(async (name) => ({ name, bytes: await fs.readFile(path.join(dir, name)) })));
}
