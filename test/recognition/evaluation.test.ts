// The evaluation's arithmetic on small synthetic embeddings whose answers are known: pair counts,
// percentiles, ROC points, and the open-set simulation through the real decision rule (two
// identical people must produce false accepts; well-separated people none; the seed reproduces).
import { describe, expect, it } from 'vitest';

import {
  distribution,
  type LabelledEmbedding,
  pairScores,
  rocPoints,
  simulateOpenSet,
} from '../../src/recognition/evaluation.js';
import { evaluationPng, evaluationSvg } from '../../src/recognition/evaluation-plot.js';

const DIM = 16;

/** Person p's photo j: the unit vector e_p nudged by 0.1 along e_(8 + j % 8), normalised. Same person ~0.99, others <= 0.01. */
function photo(person: string, p: number, j: number): LabelledEmbedding {
  const v = new Float32Array(DIM);
  v[p] = 1;
  v[8 + (j % 8)] = 0.1;
  const n = Math.hypot(...v);
  return { person, file: `${person}/${j}.jpg`, vector: v.map((x) => x / n) };
}

function people(count: number, photos: number, identical: [number, number] | null = null): LabelledEmbedding[] {
  const out: LabelledEmbedding[] = [];
  for (let p = 0; p < count; p++) {
    // An identical pair: the second person's photos are the first person's vectors.
    const base = identical && p === identical[1] ? identical[0] : p;
    for (let j = 0; j < photos; j++) out.push(photo(`P${p}`, base, j));
  }
  return out;
}

describe('pairScores and distribution', () => {
  it('splits every unordered pair once into same-person and different-person scores', () => {
    const s = pairScores(people(4, 5));
    expect(s.genuine).toHaveLength(4 * 10); // 4 people x C(5, 2)
    expect(s.impostor).toHaveLength(190 - 40); // C(20, 2) - genuine
    expect(Math.min(...s.genuine)).toBeGreaterThan(0.98);
    expect(Math.max(...s.impostor)).toBeLessThan(0.02);
  });

  it('gives nearest-rank percentiles, min, max and mean', () => {
    const d = distribution(Array.from({ length: 100 }, (_, i) => 100 - i)); // 100..1, unsorted
    expect(d).toMatchObject({ count: 100, min: 1, max: 100, mean: 50.5 });
    expect(d?.percentiles).toMatchObject({ p1: 1, p5: 5, p50: 50, p99: 99, 'p99.9': 100 });
    expect(distribution([])).toBeNull();
  });
});

describe('rocPoints', () => {
  // 1,000 impostor scores 0.000 .. 0.999; four genuine scores placed around the tail.
  const impostor = Array.from({ length: 1000 }, (_, i) => i / 1000);
  const genuine = [0.5, 0.995, 0.9985, 1];
  const roc = rocPoints({ genuine, impostor });

  it('allows floor(f n) impostors above the threshold and reads the genuine accept rate there', () => {
    expect(roc.map((p) => p.targetFmr)).toEqual([1e-2, 1e-3, 1e-4, null]);
    expect(roc[0]).toMatchObject({ threshold: 0.989, falseMatches: 10, fmr: 0.01, gar: 0.75, resolvable: true });
    expect(roc[1]).toMatchObject({ threshold: 0.998, falseMatches: 1, fmr: 0.001, gar: 0.5, resolvable: true });
  });

  it('says a rate is not observable with fewer than 1 / f impostors and shows the zero-observed point', () => {
    expect(roc[2]).toMatchObject({ threshold: 0.999, falseMatches: 0, gar: 0.25, resolvable: false });
    expect(roc[3]).toMatchObject({ threshold: 0.999, falseMatches: 0, fmr: 0, gar: 0.25, resolvable: true });
  });
});

describe('simulateOpenSet (the real decision rule)', () => {
  it('names every enrolled person correctly and no stranger when people are far apart', () => {
    const r = simulateOpenSet(people(4, 5), { galleryPerPerson: 3, trials: 20, seed: 7 });
    expect(r.enrolledPerGallery).toBe(2);
    // Per gallery: 2 enrolled people x 2 photos left, 2 strangers x 5 photos.
    expect(r.enrolledProbes).toMatchObject({
      probes: 80,
      namedCorrectly: 80,
      namedAsSomeoneElse: 0,
      unknown: 0,
      gar: 1,
    });
    expect(r.strangerProbes).toMatchObject({ probes: 200, named: 0, unknown: 200 });
    expect(r.falseAccepts).toBe(0);
    expect(r.galleriesWithFalseAccept).toBe(0);
  });

  it('counts false accepts when two people are identical and only one of them is enrolled', () => {
    const r = simulateOpenSet(people(4, 5, [0, 1]), { galleryPerPerson: 3, trials: 50, seed: 7 });
    expect(r.falseAccepts).toBeGreaterThan(0);
    expect(r.galleriesWithFalseAccept).toBeGreaterThan(0);
    expect(r.falseAccepts).toBe(r.strangerProbes.named + r.enrolledProbes.namedAsSomeoneElse);
    // Only the twins are ever confused: a stranger twin named as the enrolled one (score 1.0).
    for (const f of r.worstFalseAccepts) {
      expect(new Set([f.probePerson, f.named])).toEqual(new Set(['P0', 'P1']));
      expect(f.score).toBeCloseTo(1, 5);
    }
    // Both twins enrolled is ambiguous (margin 0): unknown, never the wrong twin.
    expect(r.enrolledProbes.namedAsSomeoneElse).toBe(0);
  });

  it('draws the same galleries for the same seed and others for another', () => {
    const samples = people(6, 5, [0, 1]);
    const a = simulateOpenSet(samples, { galleryPerPerson: 3, trials: 30, seed: 42 });
    expect(simulateOpenSet(samples, { galleryPerPerson: 3, trials: 30, seed: 42 })).toEqual(a);
    const others = [1, 2, 3].map(
      (seed) => simulateOpenSet(samples, { galleryPerPerson: 3, trials: 30, seed }).falseAccepts,
    );
    expect(others.some((n) => n !== a.falseAccepts)).toBe(true);
  });

  it('never enrolls a person with no photo left to probe with', () => {
    const samples = [...people(4, 5), photo('Lonely', 5, 0), photo('Lonely', 5, 1)];
    const r = simulateOpenSet(samples, { galleryPerPerson: 3, trials: 10, seed: 1 });
    expect(r.neverEnrolled).toEqual(['Lonely']);
    expect(r.enrolledPerGallery).toBe(2); // floor(5 / 2)
  });
});

describe('evaluationPng', () => {
  it('draws both histograms, axes, a legend and the threshold line into a PNG', async () => {
    const s = pairScores(people(4, 5));
    const svg = evaluationSvg(s, { title: 'test', matchThreshold: 0.45, zeroFmThreshold: 0.01 });
    expect(svg).toContain('match threshold 0.45');
    expect(svg).toContain('genuine: same person (40 pairs)');
    expect(svg).toContain('impostor: different people (150 pairs)');
    const png = await evaluationPng(s, { title: 'test', matchThreshold: 0.45 });
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });
});
