// `facegate bench vision`: per-stage latency of the vision pipeline (decode, detect, align, embed)
// and faces per second, on real photos, with the models and provider the appliance would use.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { alignFace } from '../vision/align.js';
import { decodeImage, openVision, type VisionOptions } from '../vision/index.js';

export interface VisionBenchOptions extends VisionOptions {
  photosDir: string;
  /** Passes over the photos (after one warm-up pass). */
  repeat: number;
  progress?: (message: string) => void;
}

export interface StageStats {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
}

export interface VisionBenchReport {
  photos: number;
  faces: number;
  repeat: number;
  detector: { name: string; provider: string };
  embedder: { name: string; provider: string; dim: number };
  /** decode and detect are per image; align and embed per face. */
  stages: Record<'decode' | 'detect' | 'align' | 'embed', StageStats>;
  /** Faces through the whole pipeline (decode to embedding) per second of wall time. */
  facesPerSecond: number;
  imagesPerSecond: number;
}

const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;

async function listPhotos(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listPhotos(full)));
    else if (IMAGE_FILE.test(entry.name)) out.push(full);
  }
  return out.sort();
}

function stats(ms: number[]): StageStats {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { samples: ms.length, meanMs: ms.reduce((s, v) => s + v, 0) / Math.max(1, ms.length), p50Ms: at(0.5), p95Ms: at(0.95) };
}

export async function runVisionBench(options: VisionBenchOptions): Promise<VisionBenchReport> {
  const progress = options.progress ?? (() => {});
  const photos = await listPhotos(options.photosDir);
  if (photos.length === 0) throw new Error(`Expected photos (.jpg, .png, .webp) in ${options.photosDir} but found none`);
  const vision = await openVision(options);
  const { detector, embedder } = vision.analyzer;
  const times = { decode: [] as number[], detect: [] as number[], align: [] as number[], embed: [] as number[] };
  let faces = 0;
  let wallMs = 0;
  for (let pass = -1; pass < options.repeat; pass++) {
    const measure = pass >= 0; // pass -1 warms caches and the sessions
    progress(measure ? `pass ${pass + 1}/${options.repeat} over ${photos.length} photos` : 'warm-up pass');
    for (const file of photos) {
      const bytes = await fs.readFile(file);
      const t0 = performance.now();
      const image = await decodeImage(bytes);
      const t1 = performance.now();
      const found = await detector.detect(image);
      const t2 = performance.now();
      let last = t2;
      for (const face of found) {
        const a0 = performance.now();
        const aligned = alignFace(image, face.landmarks);
        const a1 = performance.now();
        await embedder.embed(aligned);
        last = performance.now();
        if (measure) {
          times.align.push(a1 - a0);
          times.embed.push(last - a1);
        }
      }
      if (measure) {
        times.decode.push(t1 - t0);
        times.detect.push(t2 - t1);
        faces += found.length;
        wallMs += last - t0;
      }
    }
  }
  return {
    photos: photos.length,
    faces,
    repeat: options.repeat,
    detector: { name: vision.detector.name, provider: vision.detector.provider },
    embedder: { name: vision.embedder.name, provider: vision.embedder.provider, dim: vision.embedder.dim },
    stages: { decode: stats(times.decode), detect: stats(times.detect), align: stats(times.align), embed: stats(times.embed) },
    facesPerSecond: (faces * 1000) / wallMs,
    imagesPerSecond: (photos.length * options.repeat * 1000) / wallMs,
  };
}

export function formatVisionBench(r: VisionBenchReport): string {
  const row = (name: string, s: StageStats, per: string) =>
    `${name.padEnd(8)} ${per.padEnd(6)} ${String(s.samples).padStart(7)} ${s.meanMs.toFixed(2).padStart(9)} ${s.p50Ms.toFixed(2).padStart(8)} ${s.p95Ms.toFixed(2).padStart(8)}`;
  return [
    `vision benchmark: ${r.photos} photos x ${r.repeat} passes, ${r.faces} faces`,
    `detector ${r.detector.name} on ${r.detector.provider}, embedder ${r.embedder.name} (${r.embedder.dim}-d) on ${r.embedder.provider}`,
    '',
    'stage    per    samples   mean ms   p50 ms   p95 ms',
    row('decode', r.stages.decode, 'image'),
    row('detect', r.stages.detect, 'image'),
    row('align', r.stages.align, 'face'),
    row('embed', r.stages.embed, 'face'),
    '',
    `whole pipeline: ${r.facesPerSecond.toFixed(1)} faces/s, ${r.imagesPerSecond.toFixed(1)} images/s`,
  ].join('\n');
}
