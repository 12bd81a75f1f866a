// `facegate enroll` judges "one person" and "matches another user" at the site's match threshold
// (configured, calibrated or default: src/recognition/site-threshold.ts), as the API's enrolment
// does: before, the CLI used the built-in default whatever the site had set.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CLI } from '../helpers/cli.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'facegate-enroll-threshold-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `facegate enroll` on an embedded data root of its own, with a configuration file that sets (or not) recognition.match. */
function enrollObama(name: string, match: number | null) {
  const config = path.join(dir, `${name}.yaml`);
  writeFileSync(config, `inference: { provider: cpu }\n${match === null ? '' : `recognition: { match: ${match} }\n`}`);
  const r = spawnSync(
    process.execPath,
    [CLI, 'enroll', 'U1', '--name', 'Obama', path.join(FACES_DIR, 'obama'), '--json'],
    {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        FACEGATE_CONFIG: config,
        FACEGATE_DATA_DIR: path.join(dir, name),
        FACEGATE_MODELS_DIR: MODELS_DIR,
        DATABASE_URL: '',
        REDIS_URL: '',
      },
    },
  );
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { embeddings: number; skipped: { file: string; reason: string }[] };
}

describe('facegate enroll at the site threshold', () => {
  it('keeps the photos that agree at the default, and skips those under a stricter configured match', () => {
    // obama2 and obama3 score 0.62-0.68 against the others: one person at the 0.54 default, not at 0.75.
    expect(enrollObama('default', null)).toMatchObject({ embeddings: 5, skipped: [] });
    const strict = enrollObama('strict', 0.75);
    expect(strict.embeddings).toBe(3);
    expect(strict.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['obama2.jpg', 'obama3.jpg']);
    for (const s of strict.skipped) expect(s.reason).toMatch(/does not match the other photos/);
  }, 240_000);
});
