// `facegate bench pipeline --scene site` end to end through the compiled CLI, briefly: the scenes
// are encoded, both pipelines (facegate and the baseline) run in processes of their own on real
// ffmpeg-decoded cameras, and the report's bookkeeping holds. Timings are not checked (a shared
// 2-core machine); the scenes' ground truth against a few events is checked in judgeScene's tests.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { PipelineModeComparison } from '../../src/bench/pipeline-bench.js';
import { judgeScene, type SceneScript } from '../../src/bench/scenes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

describe('facegate bench pipeline --scene site', () => {
  it('runs facegate and the baseline on replayed H.264 scenes and reports consistent figures', () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -p tsconfig.json\` before this test`);
    const r = spawnSync(
      process.execPath,
      [cli, 'bench', 'pipeline', '--scene', 'site', '--cameras', '2', '--seconds', '15', '--json'],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as PipelineModeComparison;
    expect(c.cpu.cores).toBeGreaterThan(0);
    expect(c.runs.map((run) => run.name)).toEqual(['facegate', 'baseline']);
    for (const { report } of c.runs) {
      expect(report).toMatchObject({ scene: 'site', cameras: 2, seconds: 15, offeredFps: 10, frame: '1280x720' });
      expect(report.frames).toBeGreaterThan(0);
      for (const share of Object.values(report.shares)) {
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThanOrEqual(1);
      }
      expect(report.framesDetected).toBeLessThanOrEqual(report.frames);
      expect(report.facesEmbedded + report.facesFollowed).toBeLessThanOrEqual(report.faces);
      expect(report.cpuSeconds.node).toBeGreaterThan(0);
      if (process.platform === 'linux') expect(report.cpuSeconds.ffmpeg).toBeGreaterThan(0);
      const site = report.site;
      if (!site) throw new Error('Expected the site report of a site run but received none');
      expect(site.scenes).toEqual(['corridor-1', 'queue-1']);
      expect(site.passages).toBeGreaterThan(0);
      expect(site.decided).toBeLessThanOrEqual(site.passages);
      expect(site.knownNamed).toBeLessThanOrEqual(site.knownPassages);
      expect(site.extraEvents).toBeGreaterThanOrEqual(0);
      expect(site.events).toBe(report.decisions.known + report.decisions.unknown);
    }
    // The baseline runs every frame through the detector and embeds every face.
    const baseline = c.runs[1]?.report;
    expect(baseline?.shares.detected).toBe(1);
    expect(baseline?.facesFollowed).toBe(0);
    expect(r.stderr).toContain('bench: pipeline "baseline" in a process of its own');
  }, 240_000);
});

describe('judgeScene', () => {
  const script: SceneScript = {
    id: 'corridor-1',
    scene: 'corridor',
    file: 'corridor-1.mp4',
    seconds: 40,
    fps: 5,
    width: 1280,
    height: 720,
    passages: [
      { person: 'obama', known: true, startS: 2, endS: 5 },
      { person: 'biden', known: false, startS: 14, endS: 17 },
      { person: 'obama', known: true, startS: 26, endS: 29 },
      // Still in view when the run stops at 36 s, seen 4+ s: counts.
      { person: 'Tony_Blair', known: false, startS: 31, endS: 40 },
    ],
  };

  it('matches one event to each passage, the known person first by name', () => {
    const v = judgeScene(
      script,
      [
        { atS: 3.1, userId: 'obama' },
        { atS: 15, userId: null },
        // A second track of biden: one event too many.
        { atS: 16.5, userId: null },
        // Obama decided as unknown: decided, not named.
        { atS: 27, userId: null },
        { atS: 33, userId: null },
      ],
      36,
    );
    expect(v).toMatchObject({ passages: 4, decided: 4, knownPassages: 2, knownNamed: 1, strangersNamedKnown: 0 });
    expect(v.events).toBe(5);
    expect(v.extraEvents).toBe(1);
    expect(v.missed).toEqual([]);
  });

  it('counts a passage with no event in its window as missed, and a stranger named as known', () => {
    const v = judgeScene(
      script,
      [
        // Long after obama left (grace 3 s): takes no passage.
        { atS: 9, userId: 'obama' },
        { atS: 15, userId: 'obama' },
      ],
      36,
    );
    expect(v.decided).toBe(1);
    expect(v.strangersNamedKnown).toBe(1);
    expect(v.missed.map((p) => p.startS)).toEqual([2, 26, 31]);
  });

  it('leaves out passages the run did not see long enough', () => {
    expect(judgeScene(script, [], 33).passages).toBe(3);
    expect(judgeScene(script, [], 16).passages).toBe(1);
  });
});
