// `facegate eval <folder>`: the product's vision and decision rule measured on labelled photos (one
// sub-folder per person): faces used and refused, genuine and impostor score distributions, the
// ROC, and an open-set identification simulation through the real decision rule (issue 13).
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';

import { DEFAULT_DECISION_THRESHOLDS } from '../../recognition/decision.js';
import {
  type Distribution,
  embedLabelledFolder,
  evaluate,
  type EvaluationReport,
  listLabelledPhotos,
} from '../../recognition/evaluation.js';
import { evaluationPng } from '../../recognition/evaluation-plot.js';
import { openVision } from '../../vision/index.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

/** Issue 13's defaults: 3 photos per enrolled person (what enrollment asks for), 200 galleries. */
const DEFAULT_GALLERY = 3;
const DEFAULT_TRIALS = 200;
const DEFAULT_SEED = 1;
/** Galleries beyond this take minutes on lfw10-sized sets and say nothing more. */
const MAX_TRIALS = 100_000;

export const evalUsage = `facegate eval <folder> [--gallery K] [--trials T] [--seed S] [--plot FILE.png] ${visionFlagsUsage} [--json]
  Measures recognition on labelled photos (one sub-folder per person): faces refused, genuine and
  impostor score distributions, the ROC, and T random galleries of K photos for half the people
  probed through the default decision rule (defaults K ${DEFAULT_GALLERY}, T ${DEFAULT_TRIALS}, seed ${DEFAULT_SEED}).`;

function integerFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`Expected --${name} to be an integer from ${min} to ${max} but received "${raw}"`);
  }
  return value;
}

const f3 = (v: number) => v.toFixed(3);
const thousands = (v: number) => v.toLocaleString('en-US');

function distributionLine(label: string, d: Distribution | null): string {
  if (!d) return `  ${label}: none (no pair of used faces of this kind)`;
  const p = d.percentiles;
  return (
    `  ${label} ${thousands(d.count)} pairs: min ${f3(d.min)}  p0.1 ${f3(p['p0.1'] ?? NaN)}  p1 ${f3(p.p1 ?? NaN)}  p5 ${f3(p.p5 ?? NaN)}  ` +
    `p50 ${f3(p.p50 ?? NaN)}  p95 ${f3(p.p95 ?? NaN)}  p99 ${f3(p.p99 ?? NaN)}  p99.9 ${f3(p['p99.9'] ?? NaN)}  max ${f3(d.max)}`
  );
}

export function formatEvaluation(r: EvaluationReport): string {
  const reasons = Object.entries(r.faces.refusedByReason)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const o = r.openSet;
  const lines = [
    `${r.folder}: ${r.people} people, ${r.photos} photos${r.unlabelledFiles ? ` (${r.unlabelledFiles} image file(s) outside a person's folder ignored)` : ''}`,
    `faces: ${r.faces.used} used (the largest face the quality gate accepts), ${r.faces.refused} photo(s) refused${reasons ? ` (${reasons})` : ''}`,
    ...r.faces.refusedPhotos.map((p) => `  refused ${p.file}: ${p.reasons.join(', ')}`),
    ...r.faces.smallerFaceUsed.map((file) => `  ${file}: the largest face was refused, a smaller one used`),
    "scores (cosine of two photos' embeddings):",
    distributionLine('genuine  (same person)    ', r.genuine),
    distributionLine('impostor (different people)', r.impostor),
    'ROC (accept when the score is above the threshold):',
    ...r.roc.map((p) => {
      const what =
        p.targetFmr === null ? 'zero observed false matches' : `false match rate ${p.targetFmr.toExponential(0)}`;
      const note = p.resolvable
        ? ''
        : ` (not observable with ${thousands(r.impostor?.count ?? 0)} impostor pairs: shown at zero observed)`;
      return `  ${what.padEnd(28)} threshold ${f3(p.threshold)}  genuine accept ${f3(p.gar)}  (${p.falseMatches} false matches, FMR ${p.fmr.toExponential(1)})${note}`;
    }),
    `open-set simulation: ${thousands(o.trials)} random galleries (seed ${o.seed}), ${o.galleryPerPerson} photos each of ${o.enrolledPerGallery} of ${o.people} people, ` +
      `decided by the default rule (match ${o.thresholds.match}, margin ${o.thresholds.margin})`,
    ...(o.neverEnrolled.length
      ? [`  never enrolled (${o.galleryPerPerson + 1} faces needed): ${o.neverEnrolled.join(', ')}`]
      : []),
    `  enrolled people's other photos: ${thousands(o.enrolledProbes.probes)} probes, ${thousands(o.enrolledProbes.namedCorrectly)} named correctly (genuine accept ${f3(o.enrolledProbes.gar)}), ` +
      `${o.enrolledProbes.namedAsSomeoneElse} named as someone else, ${thousands(o.enrolledProbes.unknown)} unknown`,
    `  strangers' photos: ${thousands(o.strangerProbes.probes)} probes, ${o.strangerProbes.named} named as an enrolled person, ${thousands(o.strangerProbes.unknown)} unknown`,
    `  false accepts: ${o.falseAccepts} in ${thousands(o.enrolledProbes.probes + o.strangerProbes.probes)} decisions; ${o.galleriesWithFalseAccept} of ${o.trials} galleries had one`,
    ...o.worstFalseAccepts.map(
      (f) =>
        `    ${f.probe} (${f.probePerson}${f.probeEnrolled ? ', enrolled' : ''}) named ${f.named} at ${f3(f.score)}`,
    ),
  ];
  return lines.join('\n');
}

export async function evalCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...visionFlags,
      gallery: { type: 'string' },
      trials: { type: 'string' },
      seed: { type: 'string' },
      plot: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  // Every argument is checked before the models load.
  if (positionals.length !== 1)
    throw new UsageError(
      `Expected one folder (one sub-folder per person) but received ${positionals.length} argument(s)`,
    );
  const folder = positionals[0] as string;
  const galleryPerPerson = integerFlag('gallery', values.gallery, DEFAULT_GALLERY, 1, 1000);
  const trials = integerFlag('trials', values.trials, DEFAULT_TRIALS, 1, MAX_TRIALS);
  const seed = integerFlag('seed', values.seed, DEFAULT_SEED, 0, 2 ** 32 - 1);
  if (values.plot !== undefined && !/\.png$/i.test(values.plot))
    throw new UsageError(`Expected --plot FILE.png but received "${values.plot}"`);
  const visionOptions = visionOptionsFrom(values);
  try {
    await listLabelledPhotos(folder);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }

  const vision = await openVision(visionOptions);
  const embedded = await embedLabelledFolder(folder, vision.analyzer, (m) => process.stderr.write(`eval: ${m}\n`));
  const { report, scores } = evaluate(embedded, {
    galleryPerPerson,
    trials,
    seed,
    thresholds: DEFAULT_DECISION_THRESHOLDS,
  });
  let plot: string | null = null;
  // Nothing to draw without pair scores (every photo refused, say): the report says why.
  if (values.plot !== undefined && scores.genuine.length + scores.impostor.length > 0) {
    const zero = report.roc.find((p) => p.targetFmr === null);
    const png = await evaluationPng(scores, {
      title: `facegate eval ${folder}: ${report.faces.used} faces of ${report.people} people`,
      matchThreshold: DEFAULT_DECISION_THRESHOLDS.match,
      ...(zero ? { zeroFmThreshold: zero.threshold } : {}),
    });
    await fs.writeFile(values.plot, png);
    plot = values.plot;
  }
  const models = {
    detector: vision.detector.name,
    embedder: vision.embedder.name,
    embedderModelId: vision.embedder.modelId,
    provider: vision.embedder.provider,
  };
  out(
    { ...report, models, plot },
    `${formatEvaluation(report)}\nmodels: detector ${models.detector}, embedder ${models.embedderModelId} on ${models.provider}${plot ? `\nplot: ${plot}` : values.plot !== undefined ? '\nplot: not written (no pair scores to draw)' : ''}`,
  );
}
