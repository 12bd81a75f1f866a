// `facegate events list --appliance ID` (issue 18) through the compiled CLI (dist/: `npm run build`
// first) on an embedded data root whose database two appliances wrote into: the listing shows each
// event's appliance, the flag keeps one appliance's, and a bad id is refused with storage's message
// before anything opens.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqlDbStore } from '../../storage/db/sql-db-store.js';
import { silentLogger } from '../../storage/logger.js';
import { cliJson, embeddedFacegate } from '../helpers/cli.js';

let dataDir: string;
const facegate = embeddedFacegate(() => dataDir);
const ids: Record<string, string> = {};
const at = (s: number) => new Date(Date.UTC(2026, 11, 4, 7, 0, s));

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-appliance-'));
  // Two appliances take turns on the data root's embedded database (as two would share a server).
  for (const [n, applianceId] of ['site-a', 'site-b'].entries()) {
    const db = await SqlDbStore.open({
      pgliteDir: path.join(dataDir, 'db'),
      spoolDir: path.join(dataDir, 'spool'),
      logger: silentLogger,
      applianceId,
    });
    try {
      ids[applianceId] = (
        await db.recordRecognition({ timestamp: at(n), cameraId: 'cam_01', matchedUserId: 'U1', confidence: 0.8 })
      ).id;
      ids[`${applianceId}-camera`] = (
        await db.recordCameraEvent({ timestamp: at(n), cameraId: 'cam_01', eventType: 'connected' })
      ).id;
    } finally {
      await db.close();
    }
  }
}, 60_000);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

type Listed = { events: { id: string; applianceId: string | null }[] };

describe('facegate events list --appliance', () => {
  it('lists every appliance’s events with their ids, and one appliance’s with the flag', () => {
    const all = cliJson<Listed>(facegate('events', 'list', '--json'));
    expect(all.events.map((e) => [e.id, e.applianceId])).toEqual([
      [ids['site-b'], 'site-b'],
      [ids['site-a'], 'site-a'],
    ]);
    const onlyA = cliJson<Listed>(facegate('events', 'list', '--appliance', 'site-a', '--json'));
    expect(onlyA.events.map((e) => e.id)).toEqual([ids['site-a']]);
    const cams = cliJson<Listed>(facegate('events', 'list', '--cameras', '--appliance', 'site-b', '--json'));
    expect(cams.events.map((e) => [e.id, e.applianceId])).toEqual([[ids['site-b-camera'], 'site-b']]);

    // The text listing names the appliance of each line.
    const text = facegate('events', 'list');
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^2026-12-04T07:00:01\.000Z {2}site-b {2}cam_01 {2}known U1/);
    expect(lines[1]).toMatch(/^2026-12-04T07:00:00\.000Z {2}site-a {2}cam_01 {2}known U1/);
    const one = facegate('events', 'list', '--cameras', '--appliance', 'site-a');
    expect(one.stdout.trim()).toMatch(/^2026-12-04T07:00:00\.000Z {2}site-a {2}cam_01 {2}connected/);
  });

  it('refuses an appliance id that breaks storage’s rule, with storage’s message', () => {
    for (const bad of ['../x', 'CON', 'a:b']) {
      const r = facegate('events', 'list', '--appliance', bad);
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).toContain(
        `--appliance: Expected an appliance id of 1-64 letters, digits, '_', '-' or '.' (not first), not a reserved Windows name but received "${bad}"`,
      );
    }
  });
});
