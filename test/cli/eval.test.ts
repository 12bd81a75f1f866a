// `facegate eval` through the compiled CLI on the real lfw10 photos and models: the counts add up,
// the pair counts follow from the faces used, the simulation probes what it should, the plot is a
// real PNG; bad arguments are usage errors before any model loads.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import type { EvaluationReport } from '../../src/recognition/evaluation.js';
import { CLI } from '../helpers/cli.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

const LFW10 = path.join(FACES_DIR, 'lfw10');
let tmp: string;

function facegate(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'eval', ...args], { encoding: 'utf8', timeout: 300_000 });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-eval-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('facegate eval on lfw10', () => {
  let report: EvaluationReport & { plot: string | null };
  const plot = () => path.join(tmp, 'lfw10.png');

  beforeAll(() => {
    const r = facegate(
      LFW10,
      '--json',
      '--plot',
      plot(),
      '--trials',
      '50',
      '--models-dir',
      MODELS_DIR,
      '--provider',
      'cpu',
    );
    expect(r.stderr).not.toMatch(/facegate:/);
    expect(r.status).toBe(0);
    report = JSON.parse(r.stdout) as typeof report;
  }, 300_000);

  it('accounts for all 100 photos: used plus refused, refusals by reason', () => {
    expect(report).toMatchObject({ people: 10, photos: 100, unlabelledFiles: 0 });
    expect(report.faces.used + report.faces.refused).toBe(100);
    expect(report.faces.refusedPhotos).toHaveLength(report.faces.refused);
    const byReason = Object.values(report.faces.refusedByReason).reduce((s, v) => s + v, 0);
    expect(byReason).toBeGreaterThanOrEqual(report.faces.refused); // a photo may have several reasons
    expect(report.faces.used).toBeGreaterThan(50);
  });

  it('scores 450 genuine and 4,500 impostor pairs less those of refused faces', () => {
    const usedPerPerson = new Map<string, number>();
    for (const dir of [
      'Ariel_Sharon',
      'Arnold_Schwarzenegger',
      'Colin_Powell',
      'Donald_Rumsfeld',
      'George_W_Bush',
      'Gerhard_Schroeder',
      'Hugo_Chavez',
      'Jacques_Chirac',
      'Tony_Blair',
      'Vladimir_Putin',
    ]) {
      usedPerPerson.set(
        dir,
        10 - report.faces.refusedPhotos.filter((p) => path.basename(path.dirname(p.file)) === dir).length,
      );
    }
    const genuine = [...usedPerPerson.values()].reduce((s, n) => s + (n * (n - 1)) / 2, 0);
    const used = report.faces.used;
    expect(report.genuine?.count).toBe(genuine);
    expect(report.impostor?.count).toBe((used * (used - 1)) / 2 - genuine);
    expect(genuine).toBeLessThanOrEqual(450);
    expect(report.impostor?.count).toBeLessThanOrEqual(4500);
    // Same-person photos score higher than different people's, by a wide margin in the middle.
    expect(report.genuine?.percentiles.p50).toBeGreaterThan(0.5);
    expect(report.impostor?.percentiles.p50).toBeLessThan(0.2);
  });

  it('reads the ROC at 1e-2, 1e-3, 1e-4 and zero observed, thresholds rising as the rate falls', () => {
    expect(report.roc.map((p) => p.targetFmr)).toEqual([1e-2, 1e-3, 1e-4, null]);
    for (let i = 1; i < report.roc.length; i++)
      expect(report.roc[i]?.threshold).toBeGreaterThanOrEqual(report.roc[i - 1]?.threshold ?? Infinity);
    expect(report.roc[3]).toMatchObject({ falseMatches: 0, threshold: report.impostor?.max });
    expect(report.roc[2]?.resolvable).toBe(false); // fewer than 10,000 impostor pairs
  });

  it('probes every non-gallery photo of the enrolled half and every photo of the others in each gallery', () => {
    const o = report.openSet;
    expect(o).toMatchObject({
      trials: 50,
      galleryPerPerson: 3,
      seed: 1,
      people: 10,
      enrolledPerGallery: 5,
      thresholds: { match: DEFAULT_DECISION_THRESHOLDS.match, margin: DEFAULT_DECISION_THRESHOLDS.margin },
    });
    // Each gallery holds 15 faces; every other used face is probed once.
    expect(o.enrolledProbes.probes + o.strangerProbes.probes).toBe(50 * (report.faces.used - 15));
    expect(o.enrolledProbes.namedCorrectly + o.enrolledProbes.namedAsSomeoneElse + o.enrolledProbes.unknown).toBe(
      o.enrolledProbes.probes,
    );
    expect(o.strangerProbes.named + o.strangerProbes.unknown).toBe(o.strangerProbes.probes);
    expect(o.falseAccepts).toBe(o.strangerProbes.named + o.enrolledProbes.namedAsSomeoneElse);
    expect(o.enrolledProbes.gar).toBeGreaterThan(0.9);
  });

  it('writes the score histograms as a PNG of sensible size', async () => {
    expect(report.plot).toBe(plot());
    const meta = await sharp(plot()).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 1000, height: 600 });
    expect((await stat(plot())).size).toBeGreaterThan(10_000);
  });
});

describe('facegate eval arguments', () => {
  // A models folder that does not exist: a usage error must come before any model is looked for.
  const noModels = ['--models-dir', '/nonexistent-models'];
  it.each([
    [['--gallery', '0', LFW10], /--gallery to be an integer from 1/],
    [['--trials', 'many', LFW10], /--trials to be an integer from 1 .* received "many"/],
    [['--seed', '-3', LFW10], /--seed/],
    [['--plot', path.join(os.tmpdir(), 'x.svg'), LFW10], /Expected --plot FILE.png/],
    [[], /Expected one folder .* received 0/],
    [
      ['/nonexistent-folder'],
      /Expected a folder with one sub-folder per person but \/nonexistent-folder is not a folder/,
    ],
    [[path.join(FACES_DIR, 'obama')], /Expected at least 2 sub-folders .* found 0/],
  ])('%j is a usage error (exit 2) before the models load', (args, message) => {
    const r = facegate(...args, ...noModels);
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
  });
});
