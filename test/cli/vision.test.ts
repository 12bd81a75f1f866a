import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VisionComparison } from '../../src/bench/vision-bench.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

const cli = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
let tmp: string;

function facegate(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args, '--models-dir', MODELS_DIR, '--provider', 'cpu'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-vision-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface IdentifyReport {
  width: number;
  faces: {
    box: number[];
    landmarks: Record<string, number[]>;
    quality: { accepted: boolean; reasons: string[]; score: number };
    embedding: { dim: number; norm: number; modelId: string } | null;
  }[];
  detector: { provider: string };
}

describe('facegate analyze-faces', () => {
  it('prints two faces for two_people.jpg with boxes, landmarks, quality and unit-norm embeddings', () => {
    const r = facegate('analyze-faces', path.join(FACES_DIR, 'mixed', 'two_people.jpg'), '--json', '--crops', tmp);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as IdentifyReport;
    expect(report.width).toBe(1126);
    expect(report.detector.provider).toBe('cpu');
    expect(report.faces).toHaveLength(2);
    for (const f of report.faces) {
      expect(f.box).toHaveLength(4);
      expect(Object.keys(f.landmarks).sort()).toEqual(['leftEye', 'leftMouth', 'nose', 'rightEye', 'rightMouth']);
      expect(f.quality.accepted).toBe(true);
      expect(f.embedding).toMatchObject({ dim: 512, norm: 1, modelId: 'fr_feature@87aacdfe5751' });
    }
  });

  it('reports the half face as rejected and does not embed it', () => {
    const r = facegate('analyze-faces', path.join(FACES_DIR, 'mixed', 'obama_partial_face.jpg'), '--json');
    const report = JSON.parse(r.stdout) as IdentifyReport;
    expect(report.faces[0]?.quality).toMatchObject({ accepted: false, reasons: ['cut-off'] });
    expect(report.faces[0]?.embedding).toBeNull();
  });

  it('still answers to its old name identify-faces, with a deprecation notice on stderr and the same one JSON object on stdout', () => {
    const photo = path.join(FACES_DIR, 'mixed', 'obama_partial_face.jpg');
    const old = facegate('identify-faces', photo, '--json');
    expect(old.status, old.stderr).toBe(0);
    expect(old.stderr).toMatch(/"identify-faces" is deprecated .*use "analyze-faces"/);
    expect(JSON.parse(old.stdout)).toEqual(JSON.parse(facegate('analyze-faces', photo, '--json').stdout));
    // The top-level usage lists the new name only.
    const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/^facegate analyze-faces <image>/m);
    expect(help.stdout).not.toMatch(/identify-faces/);
  });

  it.each([
    ['a zero-byte file', Buffer.alloc(0)],
    ['garbage', Buffer.from('this is not an image, only text pretending')],
    ['half a JPEG', null],
  ])('refuses %s with "corrupted image" and exit code 1', async (_label, bytes) => {
    const file = path.join(tmp, `bad-${Math.random().toString(36).slice(2)}.jpg`);
    const { readFile } = await import('node:fs/promises');
    const jpeg = await readFile(path.join(FACES_DIR, 'obama', 'obama.jpg'));
    await writeFile(file, bytes ?? jpeg.subarray(0, jpeg.length / 2));
    const r = facegate('analyze-faces', file, '--json');
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(/^corrupted image: /);
  });
});

describe('facegate bench vision', () => {
  it("measures facegate's CPU settings beside ONNX Runtime's defaults, each in its own process, on the CPU it names", () => {
    const r = facegate(
      'bench',
      'vision',
      '--photos',
      path.join(FACES_DIR, 'biden'),
      '--repeat',
      '1',
      '--provider',
      'cpu',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const comparison = JSON.parse(r.stdout) as VisionComparison;
    expect(comparison.cpu.cores).toBeGreaterThan(0);
    expect(comparison.cpu.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    if (process.arch === 'x64') expect(comparison.cpu.features).toContain('sse2');
    expect(comparison.runs.map((run) => run.name)).toEqual([
      'onnxruntime defaults',
      'flush denormals only',
      'no spinning only',
      'facegate',
    ]);
    const [defaults, , , ours] = comparison.runs;
    // Each report says the settings its own process ran with: the baseline really is the baseline.
    expect(defaults?.report.embedder.cpu).toEqual({ flushDenormals: false, spinning: true });
    expect(ours?.report.embedder.cpu).toEqual({ flushDenormals: true, spinning: false, intraOpThreads: 1 });
    expect(ours?.report.detector.cpu).toMatchObject({ flushDenormals: true, spinning: false });
    for (const run of comparison.runs) {
      expect(run.report).toMatchObject({ photos: 2, faces: 2, repeat: 1 });
      for (const stage of ['decode', 'detect', 'align', 'embed'] as const) {
        expect(run.report.stages[stage].samples).toBe(2);
        expect(run.report.stages[stage].p50Ms).toBeGreaterThan(0);
      }
      expect(run.report.facesPerSecond).toBeGreaterThan(0);
    }
    // The text form names the CPU, so that two sites' figures can be compared.
    const text = facegate(
      'bench',
      'vision',
      '--photos',
      path.join(FACES_DIR, 'biden'),
      '--repeat',
      '1',
      '--provider',
      'cpu',
    );
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^CPU: .+ \(.+\), \d+ cores; .*onnxruntime-node \d/m);
    expect(text.stdout).toMatch(/^facegate +on +off +\S+ +1 /m);
  });

  it('refuses settings that are not settings', () => {
    const r = facegate('bench', 'vision', '--settings', '{"name":"x"}', '--json');
    expect(r.status).toBe(2);
  });
});
