// `facegate calibrate` through the compiled CLI on an embedded data root (PGlite): it refuses an
// empty site (exit 1, nothing written) and bad arguments (exit 2, before anything opens); on a
// site of 100 synthetic people and 300 kept strangers it proposes a threshold that rises with the
// gallery size, --apply records it, and then a fresh `identify`, `doctor` and a service start all
// use or report it, and warn once the gallery has grown past it.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadOrCreateToken } from '../../src/api/token.js';
import { parseConfig } from '../../src/config/config.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../src/recognition/decision.js';
import { startService } from '../../src/service/service.js';
import { embeddingModelOf } from '../../src/vision/index.js';
import { silentLogger } from '../../storage/logger.js';
import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { embeddedFacegate } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { seedSyntheticSite } from '../helpers/synthetic-faces.js';

let dir: string;
const facegate = embeddedFacegate(() => dir);

interface Proposal {
  gallerySize: number;
  threshold: number;
  genuineAccept: number | null;
}

/**
 * The synthetic site's people and strangers, in the real model's dimension (128-d vectors
 * zero-padded: same cosines). Made in more dimensions, different people score lower (the person
 * parts of two faces are further from each other), and the proposal falls below the default.
 */
async function seedSite(people: number, strangers: number, firstUser = 0, into = dir, activeDim = 128): Promise<void> {
  const model = await embeddingModelOf();
  const storage = await openStorage(parseStorageConfig({ dataRoot: into }), { embeddingModel: model });
  try {
    await seedSyntheticSite(storage, {
      modelId: model.id,
      dim: model.dim,
      people,
      facesPerPerson: 3,
      strangers,
      seed: 5,
      firstUser,
      activeDim,
    });
  } finally {
    await storage.close();
  }
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-calibrate-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('facegate calibrate', () => {
  it('refuses bad arguments with exit code 2 before opening anything', () => {
    const target = facegate('calibrate', '--target', '0.5');
    expect(target.status).toBe(2);
    expect(target.stderr).toMatch(
      /Expected --target to be a probability above 0 and at most 0\.01 .* but received "0\.5"/,
    );
    expect(facegate('calibrate', '--target', 'often').status).toBe(2);
    const folder = facegate('calibrate', '--labelled', path.join(dir, 'no-such-folder'));
    expect(folder.status).toBe(2);
    expect(folder.stderr).toMatch(/is not a folder/);
    expect(facegate('calibrate', 'now').status).toBe(2);
    expect(facegate('calibrate', '--provider', 'cpu').stderr).toMatch(/vision flags only with --labelled/);
  });

  it('refuses an empty site with exit code 1, saying how much data it needs and had, and writes nothing', () => {
    const r = facegate('calibrate', '--apply', '--json');
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { error: string; inEffect: { source: string; calibration: unknown } };
    expect(out.error).toMatch(
      /refused: Expected at least 2,000 impostor scores .* but there were 0 \(enrolled galleries 0, unknown faces 0, labelled folder 0\).*nothing written/,
    );
    expect(out.inEffect).toMatchObject({ source: 'default', calibration: null });
    const again = JSON.parse(facegate('calibrate', '--json').stdout) as { inEffect: { source: string } };
    expect(again.inEffect.source).toBe('default');
  });

  let applied: number;

  it('proposes a threshold for 100 people and 300 strangers that rises with the gallery, and explains it', async () => {
    await seedSite(100, 300);
    const r = facegate('calibrate', '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      activeUsers: number;
      counts: { impostor: Record<string, number> };
      fit: { exceedances: number; shape: number };
      proposal: Proposal;
      compared: Proposal[];
      applied: unknown;
    };
    expect(out.activeUsers).toBe(100);
    expect(out.counts.impostor).toEqual({ gallery: 29_700, unknown: 30_000, labelled: 0, total: 59_700 });
    expect(out.fit.exceedances).toBeGreaterThanOrEqual(100);
    expect(out.proposal.gallerySize).toBe(100);
    const at = (n: number) => out.compared.find((p) => p.gallerySize === n)?.threshold as number;
    expect(at(100)).toBe(out.proposal.threshold);
    expect(at(1_000)).toBeGreaterThan(at(100));
    expect(at(10_000)).toBeGreaterThan(at(1_000));
    expect(out.applied).toBeNull();

    const text = facegate('calibrate');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('29,700 from the enrolled galleries against each other');
    expect(text.stdout).toContain('30,000 from 300 kept unknown face(s)');
    expect(text.stdout).toMatch(/tail fit: Generalized Pareto .* shape -?\d\.\d{3}, scale \d\.\d{4}/);
    expect(text.stdout).toMatch(/why: a stranger is compared with every enrolled person/);
    expect(text.stdout).toMatch(/N = +1,000: threshold \d\.\d{3} +\(per-person false match 1\.0e-7/);
    expect(text.stdout).toContain('not applied: run again with --apply');
  }, 120_000);

  it('--apply records the threshold, and a fresh identify decides with it', () => {
    const r = facegate('calibrate', '--apply', '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      proposal: Proposal;
      applied: { id: string; matchThreshold: number; gallerySize: number; overriddenByConfig: boolean };
    };
    expect(out.applied).toMatchObject({
      matchThreshold: out.proposal.threshold,
      gallerySize: 100,
      overriddenByConfig: false,
    });
    applied = out.applied.matchThreshold;

    const shown = JSON.parse(facegate('calibrate', '--json').stdout) as { inEffect: { source: string; match: number } };
    expect(shown.inEffect).toMatchObject({ source: 'calibration', match: applied });
    // Obama is nobody here: unknown, below the calibrated threshold (the default's reason would name another number).
    const id = facegate('identify', path.join(FACES_DIR, 'obama', 'obama.jpg'), '--json');
    expect(id.status).toBe(0);
    const faces = (JSON.parse(id.stdout) as { faces: { decision: string; reason: string }[] }).faces;
    expect(faces[0]?.decision).toBe('unknown');
    expect(faces[0]?.reason).toContain(`below the match threshold ${applied}`);
  }, 120_000);

  it('doctor reports the calibration, and warns once the gallery has grown past it', async () => {
    const doctor = () => {
      const r = facegate('doctor', '--json');
      return (
        JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string; warnings?: string[] }[] }
      ).checks.find((c) => c.name === 'match threshold');
    };
    const before = doctor();
    expect(before).toMatchObject({ ok: true, warnings: [] });
    expect(before?.detail).toMatch(
      new RegExp(`^${applied} \\(calibrated .* for 100 active users at target 0\\.0001\\); 100 active users now`),
    );

    await seedSite(5, 0, 500);
    const after = doctor();
    expect(after?.ok).toBe(true);
    expect(after?.warnings).toEqual([
      expect.stringMatching(/grown to 105 active users, past the 100 the threshold .* run facegate calibrate/),
    ]);
    const text = facegate('doctor');
    expect(text.stdout).toMatch(/WARN match threshold: the gallery has grown to 105 active users/);
  }, 120_000);

  it('a service start decides with the calibrated threshold and /health says so, with the warning', async () => {
    const port = await freePort();
    const config = parseConfig({ dataDir: dir, modelsDir: MODELS_DIR, inference: { provider: 'cpu' }, api: { port } });
    const service = await startService(config, silentLogger);
    try {
      const token = await loadOrCreateToken(dir);
      const res = await fetch(`${service.apiUrl}/health`, { headers: { authorization: `Bearer ${token}` } });
      const health = (await res.json()) as {
        threshold: {
          match: number;
          source: string;
          activeUsers: number;
          calibration: { gallerySize: number };
          warnings: string[];
        };
      };
      expect(health.threshold).toMatchObject({
        match: applied,
        source: 'calibration',
        activeUsers: 105,
        calibration: { gallerySize: 100 },
      });
      expect(health.threshold.warnings).toEqual([expect.stringMatching(/grown to 105 active users/)]);
      // The API's identify decides with it too.
      const form = new FormData();
      form.append('image', new Blob([await fs.readFile(path.join(FACES_DIR, 'obama', 'obama.jpg'))]), 'obama.jpg');
      const id = (await (
        await fetch(`${service.apiUrl}/identify`, {
          method: 'POST',
          body: form,
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as {
        faces: { reason: string }[];
      };
      expect(id.faces[0]?.reason).toContain(`below the match threshold ${applied}`);
    } finally {
      await service.stop();
    }
  }, 120_000);
});

// Issue 13, D1 (b) and D12: a proposal below the built-in default is shown, but --apply records it
// only with --allow-below-default; while it is in effect doctor and /health warn. A second --apply
// says which calibration it supersedes.
describe('facegate calibrate below the built-in default', () => {
  let low: string;
  const lowFacegate = embeddedFacegate(() => low);
  beforeAll(async () => {
    low = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-calibrate-low-'));
    // 512 dimensions: different people score lower than at 128 (the tail ends near 0.4).
    await seedSite(100, 300, 0, low, 512);
  }, 120_000);
  afterAll(async () => {
    await fs.rm(low, { recursive: true, force: true });
  });

  interface Out {
    proposal: Proposal;
    belowDefault: { default: number; why: string } | null;
    error?: string;
    applied: {
      id: string;
      matchThreshold: number;
      belowDefault: boolean;
      supersedes: { id: string; matchThreshold: number } | null;
    } | null;
    inEffect: { source: string; match: number; warnings: string[] };
  }
  const run = (...args: string[]) => {
    const r = lowFacegate('calibrate', ...args, '--json');
    return { status: r.status, out: JSON.parse(r.stdout) as Out, stderr: r.stderr };
  };
  let proposed: number;

  it('shows the proposal and why it is below the default; --apply without --allow-below-default refuses and writes nothing', () => {
    const shown = run();
    expect(shown.status).toBe(0);
    proposed = shown.out.proposal.threshold;
    expect(proposed).toBeLessThan(DEFAULT_DECISION_THRESHOLDS.match);
    expect(shown.out.belowDefault?.default).toBe(DEFAULT_DECISION_THRESHOLDS.match);
    expect(shown.out.belowDefault?.why).toMatch(/lookalikes/);
    const text = lowFacegate('calibrate');
    expect(text.stdout).toMatch(
      new RegExp(
        `below the default: the proposal ${proposed} is under the built-in default ${DEFAULT_DECISION_THRESHOLDS.match}; .*lookalikes`,
      ),
    );
    expect(text.stdout).toContain('not applied: run again with --apply --allow-below-default to record it anyway');

    const refused = run('--apply');
    expect(refused.status).toBe(1);
    expect(refused.out.error).toMatch(
      new RegExp(
        `^refused: Expected a proposal at or above the built-in default ${DEFAULT_DECISION_THRESHOLDS.match} to record without --allow-below-default but received ${proposed}; .*nothing written$`,
      ),
    );
    expect(refused.out.applied).toBeNull();
    expect(run().out.inEffect).toMatchObject({ source: 'default', match: DEFAULT_DECISION_THRESHOLDS.match });
    // The flag means nothing without --apply: a usage error before anything opens.
    const alone = lowFacegate('calibrate', '--allow-below-default');
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/Expected --allow-below-default only with --apply/);
  }, 120_000);

  it('--apply --allow-below-default records it; doctor warns; a second --apply says it supersedes the first', () => {
    const first = run('--apply', '--allow-below-default');
    expect(first.status).toBe(0);
    expect(first.out.applied).toMatchObject({ matchThreshold: proposed, belowDefault: true, supersedes: null });

    const doctor = JSON.parse(lowFacegate('doctor', '--json').stdout) as {
      checks: { name: string; warnings?: string[] }[];
    };
    expect(doctor.checks.find((c) => c.name === 'match threshold')?.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^the match threshold ${proposed} comes from calibration ${first.out.applied?.id} and is below the built-in default ${DEFAULT_DECISION_THRESHOLDS.match}, .*lookalikes`,
        ),
      ),
    ]);

    const again = lowFacegate('calibrate', '--apply', '--allow-below-default');
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(
        `it supersedes calibration ${first.out.applied?.id} \\(${proposed} for 100 users, .*\\), which stays in the history`,
      ),
    );
    const shown = run();
    expect(shown.out.inEffect).toMatchObject({ source: 'calibration', match: proposed });
    expect(shown.out.inEffect.warnings).toEqual([expect.stringMatching(/below the built-in default/)]);
  }, 120_000);

  it('/health warns while the threshold below the default is in effect', async () => {
    const port = await freePort();
    const service = await startService(
      parseConfig({ dataDir: low, modelsDir: MODELS_DIR, inference: { provider: 'cpu' }, api: { port } }),
      silentLogger,
    );
    try {
      const token = await loadOrCreateToken(low);
      const health = (await (
        await fetch(`${service.apiUrl}/health`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as {
        threshold: { match: number; source: string; warnings: string[] };
      };
      expect(health.threshold).toMatchObject({ match: proposed, source: 'calibration' });
      expect(health.threshold.warnings).toEqual([
        expect.stringMatching(
          new RegExp(`^the match threshold ${proposed} comes from calibration \\d+ and is below the built-in default`),
        ),
      ]);
    } finally {
      await service.stop();
    }
  }, 120_000);
});
