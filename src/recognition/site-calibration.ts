// The site's evidence for calibration (issue 13), gathered from the stores: the enrolled galleries
// of the embedding model in use, every unknown face the cameras kept with the user it later turned
// out to be, and how many people are enrolled; then the calibration over them (calibration.ts) and
// the row `--apply` records. The labelled folder's embeddings come from the evaluation's runner.
import type { DbStore, NewThresholdCalibration } from '../../storage/db/db-store.js';
import {
  type Calibration,
  calibrate,
  galleryScores,
  type GalleryVector,
  type ProbeSample,
  strangerScores,
  type StrangerVector,
} from './calibration.js';
import type { LabelledEmbedding } from './evaluation.js';

export interface SiteEvidence {
  modelId: string;
  /** Every enrolled embedding of the model (disabled users too: they are other people all the same). */
  gallery: GalleryVector[];
  strangers: StrangerVector[];
  /** The labelled folder's photos, each person as a user of their own; empty without --labelled. */
  labelled: GalleryVector[];
  /** Active enrolled users: the people a stranger can be named as. */
  activeUsers: number;
  /** Users with at least one embedding of the model. */
  galleryUsers: number;
}

export async function gatherSiteEvidence(
  db: DbStore,
  modelId: string,
  labelled: readonly LabelledEmbedding[] = [],
): Promise<SiteEvidence> {
  const [embeddings, strangers, active] = await Promise.all([
    db.listEmbeddings(modelId),
    db.calibrationStrangers(modelId),
    db.listUsers({ status: 'active' }),
  ]);
  const gallery = embeddings.map((e) => ({ userId: e.userId, vector: e.vector }));
  return {
    modelId,
    gallery,
    strangers: strangers.map((s) => ({ vector: s.vector, ownerUserId: s.userId })),
    labelled: labelled.map((s) => ({ userId: s.person, vector: s.vector })),
    activeUsers: active.length,
    galleryUsers: new Set(gallery.map((g) => g.userId)).size,
  };
}

/**
 * The calibration at the site's gallery size. The labelled folder is scored within itself (its
 * people against each other, per person as the decision scores a user), never against the
 * enrolled galleries: the folder may hold the site's own people.
 */
export function calibrateSite(
  evidence: SiteEvidence,
  target: number,
): Calibration & { sampled: { gallery: ProbeSample; unknown: ProbeSample; labelled: ProbeSample } } {
  const fromGallery = galleryScores(evidence.gallery);
  const fromLabelled = galleryScores(evidence.labelled);
  const fromStrangers = strangerScores(evidence.strangers, evidence.gallery);
  const calibration = calibrate({
    impostor: { gallery: fromGallery.impostor, unknown: fromStrangers.impostor, labelled: fromLabelled.impostor },
    genuine: { gallery: fromGallery.genuine, labelled: fromLabelled.genuine },
    target,
    gallerySize: evidence.activeUsers,
  });
  return {
    ...calibration,
    sampled: { gallery: fromGallery.sample, unknown: fromStrangers.sample, labelled: fromLabelled.sample },
  };
}

/** The row `facegate calibrate --apply` records (refused by the caller when nobody is enrolled: there is no proposal). */
export function calibrationRecord(
  c: Calibration,
  modelId: string,
  details: Record<string, unknown> = {},
): NewThresholdCalibration {
  if (!c.proposal) throw new Error('Expected a proposal at the current gallery size but nobody is enrolled');
  return {
    modelId,
    matchThreshold: c.proposal.threshold,
    gallerySize: c.proposal.gallerySize,
    target: c.target,
    impostorScores: {
      gallery: c.counts.impostor.gallery,
      unknown: c.counts.impostor.unknown,
      labelled: c.counts.impostor.labelled,
    },
    genuineScores: c.counts.genuine.total,
    tail: { threshold: c.fit.threshold, exceedances: c.fit.exceedances, shape: c.fit.shape, scale: c.fit.scale },
    expectedGenuineAccept: c.proposal.genuineAccept,
    details: {
      ...details,
      boundBy: c.proposal.boundBy,
      perUserFalseMatch: c.proposal.perUserFalseMatch,
      compared: c.compared.map((p) => ({
        gallerySize: p.gallerySize,
        threshold: p.threshold,
        genuineAccept: p.genuineAccept,
      })),
    },
  };
}
