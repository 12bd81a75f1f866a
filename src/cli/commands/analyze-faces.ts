// `facegate analyze-faces <image>`: detect, judge and embed every face in one photo (no search):
// boxes, landmarks, quality and the embedding's norm; --crops writes the aligned faces as PNG. It
// names nobody (that is `identify`); it was called `identify-faces` until issue 14, and that name
// still runs it, with a deprecation notice on stderr.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { decodeImage, encodePng, openVision } from '../../vision/index.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

export const analyzeFacesUsage = `facegate analyze-faces <image> [--crops DIR] ${visionFlagsUsage} [--json]
  Finds the faces in a photo with their landmarks, quality verdict and embedding (no search).`;

const round = (v: number, digits = 2) => Number(v.toFixed(digits));

/** The command's name before issue 14: still accepted, with a notice, so scripts keep working. */
export const DEPRECATED_ANALYZE_FACES_NAME = 'identify-faces';

export async function analyzeFacesCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...visionFlags, crops: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError(`Expected one image file but received ${positionals.length}`);
  const file = positionals[0] as string;
  const image = await decodeImage(file);
  const vision = await openVision(visionOptionsFrom(values));
  const analyses = await vision.analyzer.analyze(image, { stillPhoto: true });
  if (values.crops) {
    await fs.mkdir(values.crops, { recursive: true });
    const base = path.parse(file).name;
    await Promise.all(
      analyses.map(async (a, i) =>
        fs.writeFile(path.join(values.crops as string, `${base}_face${i + 1}.png`), await encodePng(a.aligned)),
      ),
    );
  }
  const faces = analyses.map((a) => ({
    box: a.face.box.map((v) => round(v, 1)),
    score: round(a.face.score, 3),
    landmarks: Object.fromEntries(
      Object.entries(a.face.landmarks as unknown as Record<string, readonly number[]>).map(([k, p]) => [
        k,
        p.map((v) => round(v, 1)),
      ]),
    ),
    quality: {
      score: round(a.quality.score, 3),
      accepted: a.quality.accepted,
      reasons: a.quality.reasons,
      measures: Object.fromEntries(Object.entries(a.quality.measures).map(([k, v]) => [k, round(v, 3)])),
    },
    embedding: a.embedding
      ? {
          dim: a.embedding.vector.length,
          norm: round(Math.hypot(...a.embedding.vector), 6),
          modelId: a.embedding.modelId,
        }
      : null,
  }));
  const report = {
    image: file,
    width: image.width,
    height: image.height,
    detector: vision.detector,
    embedder: vision.embedder,
    faces,
  };
  const fallback = vision.detector.fallback ?? vision.embedder.fallback;
  const lines = [
    `${file}: ${image.width}x${image.height}, ${faces.length} face(s); detector ${vision.detector.name} on ${vision.detector.provider}, embedder ${vision.embedder.name} on ${vision.embedder.provider}`,
    ...(fallback ? [`  (${fallback.split(':')[0]}; running on cpu)`] : []),
    ...faces.map(
      (f, i) =>
        `  face ${i + 1}: box [${f.box.join(', ')}] score ${f.score} quality ${f.quality.score} ${f.quality.accepted ? 'accepted' : `rejected (${f.quality.reasons.join(', ')})`}` +
        (f.embedding ? `, embedding ${f.embedding.dim}-d norm ${f.embedding.norm}` : ', not embedded'),
    ),
  ];
  out(report, lines.join('\n'));
}
