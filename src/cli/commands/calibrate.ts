// `facegate calibrate`: the site's match threshold from its own evidence (issue 13). The enrolled
// galleries scored against each other, every unknown face the cameras kept, and optionally a
// labelled folder give impostor scores; their fitted upper tail gives the threshold that keeps the
// chance of naming a stranger under the target at the current gallery size. It explains its
// numbers, refuses to guess from too little data, and writes only with --apply (an append-only row
// that the service, `identify` and the API then use: src/recognition/site-threshold.ts).
import { parseArgs } from 'node:util';

import { isPositiveNumber } from '../../../storage/checks.js';
import { MAX_CALIBRATION_TARGET } from '../../config/config.js';
import {
  type Calibration,
  CalibrationRefusedError,
  MAX_SCORES_PER_SOURCE,
  type ProbeSample,
  type TailCheckPoint,
  type ThresholdProposal,
} from '../../recognition/calibration.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../../recognition/decision.js';
import { embedLabelledFolder, listLabelledPhotos } from '../../recognition/evaluation.js';
import {
  calibrateSite,
  calibrationRecord,
  gatherSiteEvidence,
  type SiteEvidence,
} from '../../recognition/site-calibration.js';
import { siteThresholdReport } from '../../recognition/site-threshold.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

export const calibrateUsage = `facegate calibrate [--labelled <folder>] [--target R] [--apply [--allow-below-default]] ${visionFlagsUsage} [--json]
  Proposes the match threshold from this site's impostor scores (enrolled people against each other,
  the unknown faces kept, and a labelled folder with one sub-folder per person) so that a stranger is
  named with probability at most R (recognition.calibrationTarget, default 1e-4) at the current
  number of enrolled people; --apply records it for the model in use (a proposal below the built-in
  default ${DEFAULT_DECISION_THRESHOLDS.match} only with --allow-below-default). Vision flags apply to --labelled.`;

/**
 * Why a proposal under the built-in default needs --allow-below-default: the default's evidence
 * (src/recognition/decision.ts) includes lookalikes, a different-person pair at 0.515, that a
 * site's own galleries and strangers may simply not have met yet; a calibration can only see the
 * impostors the site has.
 */
const BELOW_DEFAULT_WHY =
  `the built-in default ${DEFAULT_DECISION_THRESHOLDS.match} rests on evidence that includes lookalikes (a different-person pair scored 0.515 with this model), ` +
  "which this site's scores may not have met yet";

const thousands = (v: number) => v.toLocaleString('en-US');
const f3 = (v: number) => v.toFixed(3);
const sci = (v: number) => v.toExponential(1);

function parseTarget(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !isPositiveNumber(value, MAX_CALIBRATION_TARGET)) {
    throw new UsageError(
      `Expected --target to be a probability above 0 and at most ${MAX_CALIBRATION_TARGET} (e.g. 1e-4: one stranger in 10,000 named) but received "${raw}"`,
    );
  }
  return value;
}

function checkTable(check: readonly TailCheckPoint[]): string[] {
  return [
    '  score   observed share above   fitted share above',
    ...check.map(
      (p) =>
        `  ${f3(p.score)}   ${sci(p.observed).padStart(8)} (${String(p.observedAbove).padStart(5)})     ${sci(p.fitted).padStart(8)}`,
    ),
  ];
}

function proposalLine(p: ThresholdProposal): string {
  const gar = p.genuineAccept === null ? 'no genuine scores' : `genuine accept ${f3(p.genuineAccept)}`;
  return `N = ${thousands(p.gallerySize).padStart(6)}: threshold ${f3(p.threshold)}  (per-person false match ${sci(p.perUserFalseMatch)}, set by the ${p.boundBy}), ${gar}`;
}

export function formatCalibration(
  c: Calibration & { sampled?: Record<'gallery' | 'unknown' | 'labelled', ProbeSample> },
  e: SiteEvidence,
  labelledPeople: number,
): string {
  const i = c.counts.impostor;
  const sample = (what: 'gallery' | 'unknown' | 'labelled') => {
    const s = c.sampled?.[what];
    return s && s.used < s.probes
      ? ` (${thousands(s.used)} of ${thousands(s.probes)} probe faces, a seeded sample: ${thousands(MAX_SCORES_PER_SOURCE)} scores at most per source)`
      : '';
  };
  const g = c.counts.genuine;
  const fit = c.fit;
  const bounded =
    fit.endpoint === null ? 'an unbounded tail' : `a bounded tail, highest possible score ${f3(fit.endpoint)}`;
  return [
    `embedding model ${e.modelId}: ${e.activeUsers} active enrolled user(s), ${e.galleryUsers} with embeddings (${e.gallery.length})`,
    'impostor scores (a face against a person it is not; per person, the best of their embeddings, as the decision scores):',
    `  ${thousands(i.gallery).padStart(9)} from the enrolled galleries against each other${sample('gallery')}`,
    `  ${thousands(i.unknown).padStart(9)} from ${thousands(e.strangers.length)} kept unknown face(s) against every enrolled user (not against the user a face was later enrolled as or assigned to)${sample('unknown')}`,
    `  ${thousands(i.labelled).padStart(9)} from the labelled folder (${labelledPeople} people, ${e.labelled.length} faces, against each other)${sample('labelled')}`,
    `  ${thousands(i.total).padStart(9)} in all. Unknown faces may include employees the cameras missed: they can only push the tail up, the safe direction.`,
    `genuine scores (a face against the rest of its own person's gallery): ${thousands(g.gallery)} enrolled, ${thousands(g.labelled)} labelled`,
    `tail fit: Generalized Pareto (probability-weighted moments) over the ${thousands(fit.exceedances)} scores above ${f3(fit.threshold)} ` +
      `(the ${Math.round(fit.tailQuantile * 100)}th percentile): shape ${fit.shape.toFixed(3)}, scale ${fit.scale.toFixed(4)}; ${bounded}; highest score seen ${f3(fit.highestScore)}`,
    ...checkTable(c.check),
    `why: a stranger is compared with every enrolled person, so with N people the chance that one of them scores above the threshold is about N times ` +
      `the chance for one. To name a stranger with probability at most ${sci(c.target)}, each comparison may match falsely with probability at most ` +
      `1 - (1 - ${sci(c.target)})^(1/N); the threshold is the fitted tail's score with that probability above it, and never below the highest impostor score seen plus 0.01 ` +
      'nor the safety floor.',
    c.proposal
      ? `proposed at the current gallery size: ${proposalLine(c.proposal)}`
      : 'proposed at the current gallery size: none (nobody is enrolled)',
    'as the gallery grows:',
    ...c.compared.map((p) => `  ${proposalLine(p)}`),
  ].join('\n');
}

export async function calibrateCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...visionFlags,
      labelled: { type: 'string' },
      target: { type: 'string' },
      apply: { type: 'boolean', default: false },
      'allow-below-default': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  // Every argument is checked before the database or the models open.
  if (positionals.length !== 0)
    throw new UsageError(`Expected no arguments besides the flags but received ${positionals.join(' ')}`);
  const targetFlag = parseTarget(values.target);
  if (values['allow-below-default'] && !values.apply)
    throw new UsageError(
      'Expected --allow-below-default only with --apply (it lets --apply record a threshold below the default)',
    );
  const visionOptions = visionOptionsFrom(values);
  if (values.labelled === undefined && Object.keys(visionOptions).length > 0)
    throw new UsageError('Expected the vision flags only with --labelled (nothing else runs the models)');
  if (values.labelled !== undefined) {
    try {
      await listLabelledPhotos(values.labelled);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
  }

  const ctx =
    values.labelled === undefined
      ? await openContext({ vision: false })
      : await openContext({ vision: true, ...visionOptions });
  try {
    const target = targetFlag ?? ctx.config.recognition.calibrationTarget;
    const folder = values.labelled
      ? await embedLabelledFolder(values.labelled, (ctx.vision as NonNullable<typeof ctx.vision>).analyzer, (m) =>
          process.stderr.write(`calibrate: ${m}\n`),
        )
      : null;
    const evidence = await gatherSiteEvidence(ctx.storage.db, ctx.model.id, folder?.samples ?? []);
    const labelled = folder && {
      folder: folder.folder,
      people: new Set(folder.samples.map((s) => s.person)).size,
      faces: folder.samples.length,
      refusedPhotos: folder.photos.filter((p) => p.refused !== null).length,
    };
    const inEffect = siteThresholdReport(await ctx.siteThreshold(), evidence.activeUsers);
    const effectLine = `in effect now: ${inEffect.match} (${inEffect.source}${inEffect.calibration ? `; calibrated ${inEffect.calibration.createdAt} for ${inEffect.calibration.gallerySize} users` : ''})`;
    let calibration: ReturnType<typeof calibrateSite>;
    try {
      calibration = calibrateSite(evidence, target);
    } catch (error) {
      if (!(error instanceof CalibrationRefusedError)) throw error;
      const message = `refused: ${error.message}; nothing written`;
      // A fit that contradicts its data comes with it: the table shows where.
      const evidenceLines = error.evidence
        ? [
            `tail fit over the ${thousands(error.evidence.fit.exceedances)} scores above ${f3(error.evidence.fit.threshold)}:`,
            ...checkTable(error.evidence.check),
          ]
        : [];
      out(
        {
          error: message,
          modelId: evidence.modelId,
          activeUsers: evidence.activeUsers,
          labelled,
          inEffect,
          ...(error.evidence ?? {}),
        },
        [message, ...evidenceLines, effectLine].join('\n'),
      );
      return 1;
    }
    const proposed = calibration.proposal?.threshold;
    const belowDefault = proposed !== undefined && proposed < DEFAULT_DECISION_THRESHOLDS.match;
    const belowLine = belowDefault
      ? `\nbelow the default: the proposal ${proposed} is under the built-in default ${DEFAULT_DECISION_THRESHOLDS.match}; ${BELOW_DEFAULT_WHY}`
      : '';
    const text = formatCalibration(calibration, evidence, labelled?.people ?? 0) + belowLine;
    const report = {
      modelId: evidence.modelId,
      activeUsers: evidence.activeUsers,
      galleryUsers: evidence.galleryUsers,
      labelled,
      ...calibration,
      belowDefault: belowDefault ? { default: DEFAULT_DECISION_THRESHOLDS.match, why: BELOW_DEFAULT_WHY } : null,
      inEffect,
    };
    if (!values.apply) {
      const how = belowDefault
        ? 'run again with --apply --allow-below-default to record it anyway'
        : 'run again with --apply to record it';
      out({ ...report, applied: null }, `${text}\n${effectLine}\nnot applied: ${how}`);
      return 0;
    }
    if (!calibration.proposal) {
      const message =
        'refused: Expected active enrolled users to calibrate for but there are none (the threshold depends on how many people a stranger meets); nothing written';
      out({ ...report, applied: null, error: message }, `${text}\n${effectLine}\n${message}`);
      return 1;
    }
    if (belowDefault && !values['allow-below-default']) {
      const message =
        `refused: Expected a proposal at or above the built-in default ${DEFAULT_DECISION_THRESHOLDS.match} to record without --allow-below-default but received ${proposed}; ` +
        `${BELOW_DEFAULT_WHY}. Add --allow-below-default to record it anyway (doctor and /health will warn while it is in effect); nothing written`;
      out({ ...report, applied: null, error: message }, `${text}\n${effectLine}\n${message}`);
      return 1;
    }
    const extra = {
      ...(labelled ? { labelledFolder: labelled.folder, labelledPeople: labelled.people } : {}),
      ...(belowDefault ? { allowedBelowDefault: true } : {}),
    };
    const row = await ctx.storage.db.recordThresholdCalibration(
      calibrationRecord(calibration, evidence.modelId, extra),
    );
    const overridden = ctx.config.recognition.match !== undefined;
    // The table is append-only: a new calibration is a new row and the latest one counts.
    const previous = inEffect.calibration;
    const supersedes = previous && {
      id: previous.id,
      matchThreshold: previous.matchThreshold,
      gallerySize: previous.gallerySize,
      createdAt: previous.createdAt,
    };
    const applied = {
      id: row.id,
      matchThreshold: row.matchThreshold,
      gallerySize: row.gallerySize,
      createdAt: row.createdAt,
      overriddenByConfig: overridden,
      belowDefault,
      supersedes,
    };
    out(
      { ...report, applied },
      `${text}\napplied: calibration ${row.id} recorded for ${row.modelId}: match threshold ${row.matchThreshold} for ${row.gallerySize} users` +
        (supersedes
          ? `; it supersedes calibration ${supersedes.id} (${supersedes.matchThreshold} for ${supersedes.gallerySize} users, ${supersedes.createdAt}), which stays in the history`
          : '') +
        (belowDefault
          ? `; below the built-in default ${DEFAULT_DECISION_THRESHOLDS.match} (--allow-below-default): doctor and /health warn while it is in effect`
          : '') +
        '; ' +
        (overridden
          ? `but recognition.match ${ctx.config.recognition.match} in the configuration overrides it: remove that key to use the calibration`
          : 'the service, identify and the API use it from their next start'),
    );
    return 0;
  } finally {
    await ctx.close();
  }
}
