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
      ['--name', 'a\u009b31mb\u007f'],
      ['--name', 'Rev\u202eesrever'],
      ['--department', 'Zero\u200bwidth'],
    ] as const) {
      const args = flag === '--name' ? ['--name', value] : ['--name', 'Plain', '--department', value];
      const r = facegate('enroll', 'ctrl_cli', ...args, obama, '--json');
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(new RegExp(`${flag}.*printable`));
      // Quoted escaped (\u009b), never the raw CSI, DEL or RLO on the terminal.
      expect(r.stdout + r.stderr, r.stderr).not.toMatch(
        // eslint-disable-next-line no-control-regex -- raw control characters are what must not appear
        /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2066-\u2069\ufeff]/,
      );
    }
    const list = facegate('users', 'list', '--json');
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).not.toContain('ctrl_cli');
  }, 120_000);
});
