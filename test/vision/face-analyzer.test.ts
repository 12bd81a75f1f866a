import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { decodeImage, encodePng, type FaceAnalysis, openVision, type Vision } from '../../src/vision/index.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

const faces = FACES_DIR;
const models = MODELS_DIR;
const artefacts = path.join(os.tmpdir(), 'facegate-test-artefacts', 'aligned');

let vision: Vision;
const results = new Map<string, FaceAnalysis[]>();

async function analyze(file: string): Promise<FaceAnalysis[]> {
  const cached = results.get(file);
  if (cached) return cached;
  const found = await vision.analyzer.analyze(await decodeImage(path.join(faces, file)), { embedRejected: true });
  results.set(file, found);
  return found;
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

beforeAll(async () => {
  vision = await openVision({ modelsDir: models, provider: 'cpu' });
  await mkdir(artefacts, { recursive: true });
});

describe('face analysis on the real photos', () => {
  const singles = [
    'obama/obama.jpg',
    'obama/obama2.jpg',
    'obama/obama3.jpg',
    'obama/obama-480p.jpg',
    'obama/obama_small.jpg',
    'biden/biden.jpg',
    'biden/biden2.jpg',
  ];

  it.each(singles)('finds the one face in %s, accepts it, and embeds it (512-d, unit norm)', async (file) => {
    const [face, ...rest] = await analyze(file);
    expect(rest).toEqual([]);
    expect(face?.face.score).toBeGreaterThan(0.9);
    expect(face?.quality).toMatchObject({ accepted: true, reasons: [] });
    expect(face?.embedding?.vector).toHaveLength(512);
    expect(Math.hypot(...(face?.embedding?.vector ?? []))).toBeCloseTo(1, 5);
    expect(face?.embedding?.modelId).toBe('fr_feature@87aacdfe5751');
    await writeFile(path.join(artefacts, `${path.basename(file, path.extname(file))}.png`), await encodePng(face?.aligned as never));
  });

  it('puts the eye landmarks on the eyes (hand-measured pupils in obama.jpg, within 12 px, a tenth of the eye distance)', async () => {
    const [face] = await analyze('obama/obama.jpg');
    const l = face?.face.landmarks;
    const near = (p: readonly number[] | undefined, x: number, y: number) => Math.hypot((p?.[0] ?? 0) - x, (p?.[1] ?? 0) - y);
    expect(near(l?.rightEye, 444, 212)).toBeLessThan(12);
    expect(near(l?.leftEye, 549, 211)).toBeLessThan(12);
  });

  it.each(singles)('orders the landmarks of %s as a face: eyes above the nose above the mouth, right eye on the image left', async (file) => {
    const [face] = await analyze(file);
    const { rightEye, leftEye, nose, rightMouth, leftMouth } = face?.face.landmarks ?? ({} as never);
    expect(rightEye[0]).toBeLessThan(leftEye[0]);
    expect(rightMouth[0]).toBeLessThan(leftMouth[0]);
    expect(Math.max(rightEye[1], leftEye[1])).toBeLessThan(nose[1]);
    expect(nose[1]).toBeLessThan(Math.min(rightMouth[1], leftMouth[1]));
    expect(nose[0]).toBeGreaterThan(rightEye[0]);
    expect(nose[0]).toBeLessThan(leftEye[0]);
  });

  it('finds two faces in two_people.jpg and three in obama_and_biden.jpg', async () => {
    expect(await analyze('mixed/two_people.jpg')).toHaveLength(2);
    expect(await analyze('mixed/obama_and_biden.jpg')).toHaveLength(3);
  });

  it.each(['mixed/obama_partial_face.jpg', 'mixed/obama_partial_face2.jpg'])('rejects the half face in %s (cut by the frame edge)', async (file) => {
    const found = await analyze(file);
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) {
      expect(f.quality.accepted).toBe(false);
      expect(f.quality.reasons).toContain('cut-off');
    }
  });

  it('decodes the 32-bit PNG with alpha and finds the same face as the JPEG it was made from', async () => {
    const [png] = await analyze('mixed/32bit.png');
    const [jpg] = await analyze('obama/obama2.jpg');
    expect(dot(png?.embedding?.vector as Float32Array, jpg?.embedding?.vector as Float32Array)).toBeGreaterThan(0.98);
  });

  it('scores two photos of the same person clearly above photos of different people', async () => {
    const people: Record<string, string[]> = {
      obama: ['obama/obama.jpg', 'obama/obama2.jpg', 'obama/obama3.jpg', 'obama/obama-480p.jpg', 'obama/obama_small.jpg'],
      biden: ['biden/biden.jpg', 'biden/biden2.jpg'],
    };
    const vectors: { who: string; file: string; v: Float32Array }[] = [];
    for (const [who, files] of Object.entries(people)) {
      for (const file of files) vectors.push({ who, file, v: (await analyze(file))[0]?.embedding?.vector as Float32Array });
    }
    const same: number[] = [];
    const different: number[] = [];
    for (let i = 0; i < vectors.length; i++) {
      for (let j = i + 1; j < vectors.length; j++) {
        const a = vectors[i] as (typeof vectors)[0];
        const b = vectors[j] as (typeof vectors)[0];
        (a.who === b.who ? same : different).push(dot(a.v, b.v));
      }
    }
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)}`;
    console.info(`same person ${range(same)} (n=${same.length}), different people ${range(different)} (n=${different.length})`);
    expect(Math.min(...same)).toBeGreaterThan(Math.max(...different) + 0.3);
  });
});

describe('the embedding dimension comes from the model', () => {
  it('gives 128-d unit embeddings with mobilefacenet_128', async () => {
    const small = await openVision({ modelsDir: models, provider: 'cpu', embedder: 'mobilefacenet_128' });
    expect(small.embedder).toMatchObject({ name: 'mobilefacenet_128', dim: 128 });
    const [face] = await small.analyzer.analyze(await decodeImage(path.join(faces, 'obama/obama.jpg')));
    expect(face?.embedding?.vector).toHaveLength(128);
    expect(Math.hypot(...(face?.embedding?.vector ?? []))).toBeCloseTo(1, 5);
    expect(face?.embedding?.modelId).toMatch(/^mobilefacenet_128@[0-9a-f]{12}$/);
  });
});

describe('execution providers', () => {
  it('falls back to the CPU when CUDA cannot load, and says so', async () => {
    const v = await openVision({ modelsDir: models, provider: 'cuda' });
    expect(v.detector.provider).toBe('cpu');
    expect(v.detector.fallback).toMatch(/cuda/);
    expect(v.embedder.provider).toBe('cpu');
  });
});
