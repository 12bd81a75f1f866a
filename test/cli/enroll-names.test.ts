// `facegate enroll --name/--department`: the same printable-text rule as the API (src/api/text-fields.ts),
// refused before a photo is read or the data root is opened.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'facegate-enroll-names-'));
const facegate = embeddedFacegate(() => dataDir);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('facegate enroll names', () => {
  it('refuses control characters in --name and --department with exit code 2, and enrolls nobody', () => {
    const obama = path.join(FACES_DIR, 'obama');
    for (const [flag, value] of [
      ['--name', 'Eve\u001b[31mil'],
      ['--name', 'Carriage\rreturn'],
      ['--department', 'Bell\u0007'],
    ] as const) {
      const args = flag === '--name' ? ['--name', value] : ['--name', 'Plain', '--department', value];
      const r = facegate('enroll', 'ctrl_cli', ...args, obama, '--json');
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(new RegExp(`${flag}.*printable`));
    }
    const list = facegate('users', 'list', '--json');
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).not.toContain('ctrl_cli');
  }, 120_000);
});
