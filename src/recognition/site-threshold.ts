// The site's match threshold: one rule, used wherever decision thresholds are built (the service,
// `identify`, the API, the unknown-face commands). An explicit recognition.match in the
// configuration wins (a site engineer's deliberate choice, and doctor says it overrides a
// calibration); otherwise the latest `facegate calibrate --apply` for the embedding model in use
// (scores of another model say nothing about this one's); otherwise the built-in default
// (src/recognition/decision.ts). And the warnings that go with it: a threshold calibrated for a
// smaller gallery than the site now has lets strangers through more often than the target.
import type { DbStore, ThresholdCalibration } from '../../storage/db/db-store.js';
import { ReadOnlyError } from '../../storage/errors.js';
import { DEFAULT_DECISION_THRESHOLDS } from './decision.js';

export type ThresholdSource = 'config' | 'calibration' | 'default';

export interface SiteThreshold {
  match: number;
  source: ThresholdSource;
  /** The latest calibration of the model in use (also when the configuration overrides it); null when none. */
  calibration: ThresholdCalibration | null;
  /** Why the calibration could not be read (the database down at start); null when it was. */
  unreadable: string | null;
}

/** The rule itself. */
export function siteMatchThreshold(
  configured: number | undefined,
  calibration: ThresholdCalibration | null,
  unreadable: string | null = null,
): SiteThreshold {
  if (configured !== undefined) return { match: configured, source: 'config', calibration, unreadable };
  if (calibration) return { match: calibration.matchThreshold, source: 'calibration', calibration, unreadable };
  return { match: DEFAULT_DECISION_THRESHOLDS.match, source: 'default', calibration: null, unreadable };
}

/**
 * The rule with the latest calibration read from the database. While the database is down (the
 * only way the read fails: ReadOnlyError) the configured or default threshold stands and says
 * so; the service reads again when the database returns. Nothing is named meanwhile anyway at a
 * fresh start: the user directory is empty until the database answers.
 */
export async function readSiteThreshold(
  configured: number | undefined,
  db: DbStore,
  modelId: string,
): Promise<SiteThreshold> {
  try {
    return siteMatchThreshold(configured, await db.latestThresholdCalibration(modelId));
  } catch (error) {
    if (!(error instanceof ReadOnlyError)) throw error;
    return siteMatchThreshold(configured, null, error.message);
  }
}

/** What a site engineer should hear about the threshold (doctor, /health, serve's start), given the active users now. */
export function siteThresholdWarnings(site: SiteThreshold, activeUsers: number): string[] {
  const out: string[] = [];
  const c = site.calibration;
  if (site.unreadable !== null)
    out.push(
      `the threshold calibration could not be read (${site.unreadable}): running with the ${site.source} threshold ${site.match}`,
    );
  else if (c === null && activeUsers > 0) {
    out.push(
      `the match threshold was never calibrated for this site (${activeUsers} active users, the ${site.source} threshold ${site.match}): run facegate calibrate`,
    );
  }
  if (c !== null && activeUsers > c.gallerySize) {
    out.push(
      `the gallery has grown to ${activeUsers} active users, past the ${c.gallerySize} the threshold ${c.matchThreshold} was calibrated for ` +
        `(a stranger now meets more people, so is named more often than the target ${c.target}): run facegate calibrate`,
    );
  }
  // `facegate calibrate --apply` records such a threshold only with --allow-below-default: said
  // wherever the threshold is reported, for as long as it is in effect (issue 13, D12).
  if (site.source === 'calibration' && c !== null && c.matchThreshold < DEFAULT_DECISION_THRESHOLDS.match) {
    out.push(
      `the match threshold ${c.matchThreshold} comes from calibration ${c.id} and is below the built-in default ${DEFAULT_DECISION_THRESHOLDS.match}, ` +
        "whose evidence includes lookalikes (a different-person pair at 0.515) this site's scores may not have met: " +
        'strangers who resemble an enrolled person are named more often; run facegate calibrate again with more data, or set recognition.match',
    );
  }
  if (site.source === 'config' && c !== null && c.matchThreshold !== site.match) {
    out.push(
      `recognition.match ${site.match} in the configuration overrides the site calibration ${c.matchThreshold}; remove it to use the calibration`,
    );
  }
  return out;
}

/** The threshold's part of doctor's report and /health. */
export function siteThresholdReport(site: SiteThreshold, activeUsers: number) {
  const c = site.calibration;
  return {
    match: site.match,
    source: site.source,
    activeUsers,
    calibration: c && {
      id: c.id.toString(),
      createdAt: c.createdAt.toISOString(),
      modelId: c.modelId,
      matchThreshold: c.matchThreshold,
      gallerySize: c.gallerySize,
      target: c.target,
    },
    warnings: siteThresholdWarnings(site, activeUsers),
  };
}
