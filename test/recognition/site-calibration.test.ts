// Site calibration against the real storage layer (the shared PostgreSQL, a schema of its own): a
// site of 100 synthetic people and 300 strangers the cameras kept gets a proposal, a face later
// assigned to an enrolled user stops counting as a stranger against them, --apply's row is
// append-only and becomes the site's threshold unless the configuration sets one, and the
// warnings say when the site was never calibrated or its gallery grew past the calibration.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CalibrationRefusedError } from '../../src/recognition/calibration.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { calibrateSite, calibrationRecord, gatherSiteEvidence } from '../../src/recognition/site-calibration.js';
import { readSiteThreshold, siteMatchThreshold, siteThresholdWarnings } from '../../src/recognition/site-threshold.js';
import { StoreInputError } from '../../storage/errors.js';
import { openStorage, parseStorageConfig, type Storage } from '../../storage/index.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';
import { seedSyntheticSite, SYNTHETIC_DIM } from '../helpers/synthetic-faces.js';

const MODEL = 'synthetic-128';
const schema = uniqueSchema();
let dataRoot: string;
let storage: Storage;

beforeAll(async () => {
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-calibration-'));
  storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL }), {
    embeddingModel: { id: MODEL, dim: SYNTHETIC_DIM },
    schema,
  });
}, 60_000);
afterAll(async () => {
  await storage?.close();
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(dataRoot, { recursive: true, force: true });
});

describe('site calibration on the real storage layer', () => {
  it('refuses to propose from a site of 5 people and no strangers, with the counts; nothing is recorded', async () => {
    await seedSyntheticSite(storage, {
      modelId: MODEL,
      people: 5,
      facesPerPerson: 3,
      strangers: 0,
      seed: 3,
      firstUser: 900,
    });
    const evidence = await gatherSiteEvidence(storage.db, MODEL);
    expect(() => calibrateSite(evidence, 1e-4)).toThrow(CalibrationRefusedError);
    expect(() => calibrateSite(evidence, 1e-4)).toThrow(
      /at least 2,000 impostor scores .* but there were 60 \(enrolled galleries 60, unknown faces 0, labelled folder 0\)/,
    );
    expect(await storage.db.latestThresholdCalibration(MODEL)).toBeNull();
    // Never calibrated, people enrolled: said.
    const site = await readSiteThreshold(undefined, storage.db, MODEL);
    expect(site).toMatchObject({
      source: 'default',
      match: DEFAULT_DECISION_THRESHOLDS.match,
      calibration: null,
      unreadable: null,
    });
    expect(siteThresholdWarnings(site, 5)).toEqual([
      expect.stringMatching(/never calibrated .* run facegate calibrate/),
    ]);
    for (const id of ['S900', 'S901', 'S902', 'S903', 'S904']) await storage.db.deleteUser(id);
  });

  let proposed: number;

  it('proposes a threshold for 100 people and 300 strangers, and a higher one as the gallery grows', async () => {
    const site = await seedSyntheticSite(storage, {
      modelId: MODEL,
      people: 100,
      facesPerPerson: 3,
      strangers: 300,
      seed: 5,
    });
    // One stranger's group turns out to be S007 (reviewed: assigned): that face is S007, not a stranger to S007.
    const [group] = await storage.db.unknown.listGroups({ limit: 1 });
    await storage.db.unknown.resolveGroup({
      groupId: group?.id as bigint,
      status: 'assigned',
      action: 'assign',
      actor: 'test',
      userId: 'S007',
    });
    const evidence = await gatherSiteEvidence(storage.db, MODEL);
    expect(evidence).toMatchObject({ activeUsers: 100, galleryUsers: 100 });
    expect(evidence.strangers.filter((s) => s.ownerUserId === 'S007')).toHaveLength(1);
    expect(site.people.size).toBe(100);

    const c = calibrateSite(evidence, 1e-4);
    expect(c.counts.impostor).toEqual({
      gallery: 300 * 99,
      unknown: 300 * 100 - 1,
      labelled: 0,
      total: 300 * 99 + 300 * 100 - 1,
    });
    expect(c.proposal?.gallerySize).toBe(100);
    proposed = c.proposal?.threshold as number;
    expect(proposed).toBeGreaterThan(c.fit.highestScore);
    const at = (n: number) => c.compared.find((p) => p.gallerySize === n)?.threshold as number;
    expect(at(1_000)).toBeGreaterThan(at(100));
    expect(at(100)).toBe(proposed);
  });

  it('--apply records an append-only row that becomes the site threshold, unless recognition.match is configured', async () => {
    const c = calibrateSite(await gatherSiteEvidence(storage.db, MODEL), 1e-4);
    const row = await storage.db.recordThresholdCalibration(calibrationRecord(c, MODEL, { note: 'test' }));
    expect(row).toMatchObject({
      modelId: MODEL,
      matchThreshold: proposed,
      gallerySize: 100,
      target: 1e-4,
      impostorScores: { gallery: 29_700, unknown: 29_999, labelled: 0 },
    });
    expect(row.details).toMatchObject({ note: 'test', boundBy: c.proposal?.boundBy });

    const latest = await storage.db.latestThresholdCalibration(MODEL);
    expect(latest?.id).toBe(row.id);
    expect(await storage.db.latestThresholdCalibration('another-model')).toBeNull();

    const site = await readSiteThreshold(undefined, storage.db, MODEL);
    expect(site).toMatchObject({ source: 'calibration', match: proposed });
    expect(siteThresholdWarnings(site, 100)).toEqual([]);
    // The configuration's explicit threshold wins, and that is said.
    const configured = await readSiteThreshold(0.6, storage.db, MODEL);
    expect(configured).toMatchObject({ source: 'config', match: 0.6 });
    expect(siteThresholdWarnings(configured, 100)).toEqual([
      expect.stringMatching(/recognition\.match 0\.6 .* overrides the site calibration/),
    ]);
    // Another model's calibration is not this model's.
    expect(await readSiteThreshold(undefined, storage.db, 'another-model')).toMatchObject({ source: 'default' });

    // Append-only, by the database itself.
    const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${schema}`);
      await expect(client.query('UPDATE threshold_calibrations SET match_threshold = 0.41')).rejects.toThrow(
        /append-only: UPDATE on threshold_calibrations/,
      );
      await expect(client.query('DELETE FROM threshold_calibrations')).rejects.toThrow(/append-only: DELETE/);
      await expect(client.query('TRUNCATE threshold_calibrations')).rejects.toThrow(/append-only: TRUNCATE/);
    } finally {
      await client.end();
    }
  });

  it('warns once the gallery has grown past the size the threshold was calibrated for', async () => {
    await seedSyntheticSite(storage, {
      modelId: MODEL,
      people: 5,
      facesPerPerson: 3,
      strangers: 0,
      seed: 9,
      firstUser: 500,
    });
    const evidence = await gatherSiteEvidence(storage.db, MODEL);
    expect(evidence.activeUsers).toBe(105);
    const site = await readSiteThreshold(undefined, storage.db, MODEL);
    expect(siteThresholdWarnings(site, evidence.activeUsers)).toEqual([
      expect.stringMatching(/grown to 105 active users, past the 100 .* run facegate calibrate/),
    ]);
    // Disabled users are nobody a stranger can be named as.
    for (const id of ['S500', 'S501', 'S502', 'S503', 'S504']) await storage.db.setUserStatus(id, 'disabled');
    expect((await gatherSiteEvidence(storage.db, MODEL)).activeUsers).toBe(100);
  });

  it('refuses a calibration row a caller got wrong, saying what was expected', async () => {
    const c = calibrateSite(await gatherSiteEvidence(storage.db, MODEL), 1e-4);
    const good = calibrationRecord(c, MODEL);
    await expect(storage.db.recordThresholdCalibration({ ...good, matchThreshold: 1.5 })).rejects.toThrow(
      StoreInputError,
    );
    await expect(storage.db.recordThresholdCalibration({ ...good, gallerySize: 0 })).rejects.toThrow(
      /Expected gallerySize to be a whole number from 1/,
    );
    await expect(storage.db.recordThresholdCalibration({ ...good, target: 1 })).rejects.toThrow(
      /Expected target to be a number between 0 and 1 \(exclusive\) but received 1/,
    );
  });

  it('the rule: configured, else calibrated, else the default', () => {
    expect(siteMatchThreshold(undefined, null)).toMatchObject({
      source: 'default',
      match: DEFAULT_DECISION_THRESHOLDS.match,
    });
  });
});
