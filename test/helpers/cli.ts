// The compiled `facegate` command (dist/, built by `npm run build` before the tests), run as a
// user would run it.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';

import { expect } from 'vitest';

import { MODELS_DIR } from './shared-data.js';

export const CLI = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/**
 * `facegate ...args` on an embedded data root of its own (PGlite, health in memory, the shared
 * models), whatever the developer's environment says.
 */
export function embeddedFacegate(dataDir: () => string) {
  return (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        FACEGATE_DATA_DIR: dataDir(),
        FACEGATE_MODELS_DIR: MODELS_DIR,
        DATABASE_URL: '',
        REDIS_URL: '',
        FACEGATE_CONFIG: '',
      },
    });
}

/** The one JSON object a --json command printed (its exit code checked first, with its stderr shown on failure). */
export function cliJson<T>(r: SpawnSyncReturns<string>, status = 0): T {
  expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status });
  return JSON.parse(r.stdout) as T;
}
