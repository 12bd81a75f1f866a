// Labelled evaluation (issue 13): how the product's own vision and decision rule behave on a folder
// of photos with one sub-folder per person. Pure functions over labelled embeddings (pair scores,
// their distributions, ROC points, an open-set identification simulation through the real decision
// rule) and the runner that makes those embeddings from a folder with the FaceAnalyzer.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { EmbeddingMatch } from '../../storage/embeddings/embedding-store.js';
import { nearestRank } from '../percentile.js';
import { seededRandom } from '../seeded-random.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import { decodeImage, ImageDecodeError } from '../vision/image-input.js';
import { DEFAULT_DECISION_THRESHOLDS, type DecisionThresholds, decideFace } from './decision.js';
import { SEARCH_K } from './identify.js';
import { cosine } from './similarity.js';

/** One photo's main face, embedded, with the person its folder names. */
export interface LabelledEmbedding {
  person: string;
  file: string;
  vector: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Pair scores and their distributions

export interface PairScores {
  /** Cosine of every pair of photos of the same person. */
  genuine: number[];
  /** Cosine of every pair of photos of different people. */
  impostor: number[];
}

/** Every unordered pair once: n(n-1)/2 scores, split by whether the two photos share a person. */
export function pairScores(samples: readonly LabelledEmbedding[]): PairScores {
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i] as LabelledEmbedding;
    for (let j = i + 1; j < samples.length; j++) {
      const b = samples[j] as LabelledEmbedding;
      (a.person === b.person ? genuine : impostor).push(cosine(a.vector, b.vector));
    }
  }
  return { genuine, impostor };
}

/** The percentiles a distribution reports: the tails matter most (impostor high, genuine low). */
export const PERCENTILES = [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9] as const;

export interface Distribution {
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Nearest-rank percentiles, keyed "p0.1", "p1", ... "p99.9". */
  percentiles: Record<string, number>;
}

export function distribution(scores: readonly number[]): Distribution | null {
  if (scores.length === 0) return null;
  const sorted = [...scores].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    percentiles: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, nearestRank(sorted, p / 100)])),
  };
}

// ---------------------------------------------------------------------------------------------
// ROC

/** The false match rates the ROC is read at (issue 13). */
export const ROC_FALSE_MATCH_RATES = [1e-2, 1e-3, 1e-4] as const;

export interface RocPoint {
  /** The false match rate asked for; null for the "zero observed false matches" point. */
  targetFmr: number | null;
  /**
   * Accept when the score is strictly above this: the lowest impostor score that must be refused,
   * so that at most targetFmr x impostors stay above it.
   */
  threshold: number;
  /** Impostor pairs above the threshold, and their share. */
  falseMatches: number;
  fmr: number;
  /** Share of genuine pairs above the threshold. */
  gar: number;
  /**
   * False when there are fewer impostor pairs than 1 / targetFmr: the rate cannot be observed, and
   * the point is the zero-observed one (no false match at all), a conservative stand-in.
   */
  resolvable: boolean;
}

/**
 * Genuine accept rate at each target false match rate, and at zero observed false matches. With n
 * impostor scores, a rate f allows floor(f n) of them above the threshold, so the threshold is the
 * (floor(f n) + 1)-th highest impostor score and a pair is accepted when it scores above it.
 */
export function rocPoints(scores: PairScores, rates: readonly number[] = ROC_FALSE_MATCH_RATES): RocPoint[] {
  const n = scores.impostor.length;
  if (n === 0 || scores.genuine.length === 0) return [];
  const impostorDesc = [...scores.impostor].sort((a, b) => b - a);
  const point = (targetFmr: number | null, allowed: number): RocPoint => {
    const threshold = impostorDesc[Math.min(allowed, n - 1)] as number;
    const falseMatches = scores.impostor.filter((s) => s > threshold).length;
    const genuineAbove = scores.genuine.filter((s) => s > threshold).length;
    return {
      targetFmr,
      threshold,
      falseMatches,
      fmr: falseMatches / n,
      gar: genuineAbove / scores.genuine.length,
      resolvable: targetFmr === null || targetFmr * n >= 1,
    };
  };
  return [...rates.map((f) => point(f, Math.floor(f * n))), point(null, 0)];
}

// ---------------------------------------------------------------------------------------------
// Open-set identification simulation

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface OpenSetOptions {
  /** Photos enrolled per person in each gallery. */
  galleryPerPerson: number;
  /** Random galleries drawn. */
  trials: number;
  seed: number;
  thresholds?: Readonly<DecisionThresholds>;
}

export interface FalseAccept {
  probe: string;
  probePerson: string;
  /** Whether the probe's own person was enrolled (then it was named as someone else). */
  probeEnrolled: boolean;
  named: string;
  score: number;
}

export interface OpenSetResult {
  galleryPerPerson: number;
  trials: number;
  seed: number;
  thresholds: { match: number; margin: number };
  people: number;
  /** People enrolled in each gallery: half of all, drawn from those with enough photos. */
  enrolledPerGallery: number;
  /** People with fewer than galleryPerPerson + 1 faces: never enrolled, always strangers. */
  neverEnrolled: string[];
  /** The enrolled people's photos that are not in the gallery. */
  enrolledProbes: { probes: number; namedCorrectly: number; namedAsSomeoneElse: number; unknown: number; gar: number };
  /** Every photo of the people not enrolled. */
  strangerProbes: { probes: number; named: number; unknown: number };
  /** Strangers named plus enrolled people named as someone else. */
  falseAccepts: number;
  galleriesWithFalseAccept: number;
  /** The highest-scoring false accepts (at most 10), for a person to look at. */
  worstFalseAccepts: FalseAccept[];
}

const WORST_KEPT = 10;

/**
 * Many random galleries: each enrolls a random half of the people (among those with more photos
 * than a gallery takes, so that each has a photo left to probe with) with galleryPerPerson random
 * photos each; every other photo of the enrolled people and every photo of the others is then
 * decided by decideFace (the product's rule) against that gallery. The search is a plain cosine
 * loop over the gallery (at most a few dozen faces), top SEARCH_K as the appliance asks its index.
 */
export function simulateOpenSet(samples: readonly LabelledEmbedding[], options: OpenSetOptions): OpenSetResult {
  const t = options.thresholds ?? DEFAULT_DECISION_THRESHOLDS;
  const random = seededRandom(options.seed);
  const byPerson = new Map<string, LabelledEmbedding[]>();
  for (const s of samples) byPerson.set(s.person, [...(byPerson.get(s.person) ?? []), s]);
  const people = [...byPerson.keys()].sort();
  const eligible = people.filter((p) => (byPerson.get(p) as LabelledEmbedding[]).length > options.galleryPerPerson);
  const enrolledPerGallery = Math.min(Math.floor(people.length / 2), eligible.length);

  const enrolledProbes = { probes: 0, namedCorrectly: 0, namedAsSomeoneElse: 0, unknown: 0, gar: 0 };
  const strangerProbes = { probes: 0, named: 0, unknown: 0 };
  let galleriesWithFalseAccept = 0;
  let worst: FalseAccept[] = [];
  for (let trial = 0; trial < options.trials; trial++) {
    const enrolled = new Set(shuffled(eligible, random).slice(0, enrolledPerGallery));
    const gallery: LabelledEmbedding[] = [];
    const probes: LabelledEmbedding[] = [];
    for (const person of people) {
      const photos = byPerson.get(person) as LabelledEmbedding[];
      if (!enrolled.has(person)) {
        probes.push(...photos);
        continue;
      }
      const order = shuffled(photos, random);
      gallery.push(...order.slice(0, options.galleryPerPerson));
      probes.push(...order.slice(options.galleryPerPerson));
    }
    let falseAcceptHere = false;
    for (const probe of probes) {
      const matches: EmbeddingMatch[] = gallery
        .map((g, i) => ({
          userId: g.person,
          image: g.file,
          score: cosine(probe.vector, g.vector),
          embeddingId: BigInt(i),
        }))
        .sort((a, b) => b.score - a.score)
        .slice(0, SEARCH_K);
      // Every gallery member is an active user: the simulation asks about recognition only.
      const decision = decideFace(matches, () => 'active', t);
      const isEnrolled = enrolled.has(probe.person);
      if (isEnrolled) enrolledProbes.probes++;
      else strangerProbes.probes++;
      if (decision.decision !== 'known' || decision.userId === null) {
        if (isEnrolled) enrolledProbes.unknown++;
        else strangerProbes.unknown++;
        continue;
      }
      if (decision.userId === probe.person) {
        enrolledProbes.namedCorrectly++;
        continue;
      }
      if (isEnrolled) enrolledProbes.namedAsSomeoneElse++;
      else strangerProbes.named++;
      falseAcceptHere = true;
      worst.push({
        probe: probe.file,
        probePerson: probe.person,
        probeEnrolled: isEnrolled,
        named: decision.userId,
        score: decision.score,
      });
      if (worst.length > 4 * WORST_KEPT) worst = keepWorst(worst);
    }
    if (falseAcceptHere) galleriesWithFalseAccept++;
  }
  enrolledProbes.gar = enrolledProbes.probes === 0 ? 0 : enrolledProbes.namedCorrectly / enrolledProbes.probes;
  return {
    galleryPerPerson: options.galleryPerPerson,
    trials: options.trials,
    seed: options.seed,
    thresholds: { match: t.match, margin: t.margin },
    people: people.length,
    enrolledPerGallery,
    neverEnrolled: people.filter((p) => !eligible.includes(p)),
    enrolledProbes,
    strangerProbes,
    falseAccepts: enrolledProbes.namedAsSomeoneElse + strangerProbes.named,
    galleriesWithFalseAccept,
    worstFalseAccepts: keepWorst(worst),
  };
}

/** The highest-scoring distinct (probe, named) false accepts. */
function keepWorst(list: FalseAccept[]): FalseAccept[] {
  const seen = new Map<string, FalseAccept>();
  for (const f of list) {
    const key = `${f.probe}\u0000${f.named}`;
    if ((seen.get(key)?.score ?? -Infinity) < f.score) seen.set(key, f);
  }
  return [...seen.values()].sort((a, b) => b.score - a.score).slice(0, WORST_KEPT);
}

// ---------------------------------------------------------------------------------------------
// The runner over a folder

const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;

/** Why a photo gave no embedding: a quality reason of its largest face, or one of these. */
export type RefusalReason = string;

export interface PhotoOutcome {
  person: string;
  file: string;
  /** Faces the detector found. */
  faces: number;
  /** null when the photo gave its main face; else why not (a photo may have several reasons). */
  refused: RefusalReason[] | null;
  /** The face used was not the largest (the largest was refused): worth a look, it may be someone behind. */
  smallerFaceUsed: boolean;
}

export interface FolderEmbeddings {
  folder: string;
  people: string[];
  photos: PhotoOutcome[];
  samples: LabelledEmbedding[];
  /** Image files directly in the folder, not in a person's sub-folder: not labelled, not used. */
  unlabelled: string[];
}

/** One sub-folder per person, image files directly inside; checked before any model is loaded. */
export async function listLabelledPhotos(
  folder: string,
): Promise<{ people: { person: string; files: string[] }[]; unlabelled: string[] }> {
  const stat = await fs.stat(folder).catch(() => null);
  if (!stat?.isDirectory())
    throw new Error(`Expected a folder with one sub-folder per person but ${folder} is not a folder`);
  const people: { person: string; files: string[] }[] = [];
  const unlabelled: string[] = [];
  for (const entry of (await fs.readdir(folder, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      const files = (await fs.readdir(full, { withFileTypes: true }))
        .filter((f) => f.isFile() && IMAGE_FILE.test(f.name))
        .map((f) => path.join(full, f.name))
        .sort();
      if (files.length > 0) people.push({ person: entry.name, files });
    } else if (IMAGE_FILE.test(entry.name)) {
      unlabelled.push(full);
    }
  }
  if (people.length < 2) {
    throw new Error(
      `Expected at least 2 sub-folders of photos (.jpg, .png, .webp), one per person, in ${folder} but found ${people.length}`,
    );
  }
  return { people, unlabelled };
}

/**
 * Every photo through the product's vision: detect, gate, align, embed. A photo's main face is the
 * largest one the gate accepts (a labelled photo is of its person; faces behind them are not);
 * when none passes, the photo is refused with the largest face's reasons ('no-face' when the
 * detector found nothing, 'decode-error' when the file is not a readable image).
 */
export async function embedLabelledFolder(
  folder: string,
  analyzer: FaceAnalyzer,
  progress: (message: string) => void = () => {},
): Promise<FolderEmbeddings> {
  const listed = await listLabelledPhotos(folder);
  const photos: PhotoOutcome[] = [];
  const samples: LabelledEmbedding[] = [];
  for (const { person, files } of listed.people) {
    progress(`${person}: ${files.length} photo(s)`);
    for (const file of files) {
      let image;
      try {
        image = await decodeImage(file);
      } catch (error) {
        if (!(error instanceof ImageDecodeError)) throw error;
        photos.push({ person, file, faces: 0, refused: ['decode-error'], smallerFaceUsed: false });
        continue;
      }
      // Labelled photos are stills: one cut to the face gets a second look with a margin.
      const analyses = await analyzer.analyze(image, { stillPhoto: true });
      const bySize = [...analyses].sort((a, b) => b.face.box[2] * b.face.box[3] - a.face.box[2] * a.face.box[3]);
      const main = bySize.find((a) => a.quality.accepted && a.embedding);
      if (main?.embedding) {
        samples.push({ person, file, vector: main.embedding.vector });
        photos.push({ person, file, faces: analyses.length, refused: null, smallerFaceUsed: main !== bySize[0] });
      } else {
        photos.push({
          person,
          file,
          faces: analyses.length,
          refused: bySize[0] ? [...bySize[0].quality.reasons] : ['no-face'],
          smallerFaceUsed: false,
        });
      }
    }
  }
  return { folder, people: listed.people.map((p) => p.person), photos, samples, unlabelled: listed.unlabelled };
}

export interface EvaluationReport {
  folder: string;
  people: number;
  photos: number;
  unlabelledFiles: number;
  faces: {
    used: number;
    refused: number;
    refusedByReason: Record<string, number>;
    refusedPhotos: { file: string; reasons: string[] }[];
    smallerFaceUsed: string[];
  };
  genuine: Distribution | null;
  impostor: Distribution | null;
  roc: RocPoint[];
  openSet: OpenSetResult;
}

/** The whole evaluation from the embedded folder (the pure part: no models here). */
export function evaluate(
  embedded: FolderEmbeddings,
  options: OpenSetOptions,
): { report: EvaluationReport; scores: PairScores } {
  const refused = embedded.photos.filter((p) => p.refused !== null);
  const refusedByReason: Record<string, number> = {};
  for (const p of refused) for (const r of p.refused ?? []) refusedByReason[r] = (refusedByReason[r] ?? 0) + 1;
  const scores = pairScores(embedded.samples);
  return {
    scores,
    report: {
      folder: embedded.folder,
      people: embedded.people.length,
      photos: embedded.photos.length,
      unlabelledFiles: embedded.unlabelled.length,
      faces: {
        used: embedded.samples.length,
        refused: refused.length,
        refusedByReason,
        refusedPhotos: refused.map((p) => ({ file: p.file, reasons: p.refused ?? [] })),
        smallerFaceUsed: embedded.photos.filter((p) => p.smallerFaceUsed).map((p) => p.file),
      },
      genuine: distribution(scores.genuine),
      impostor: distribution(scores.impostor),
      roc: rocPoints(scores),
      openSet: simulateOpenSet(embedded.samples, options),
    },
  };
}
