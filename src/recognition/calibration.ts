// Site calibration (issue 13): the match threshold from the site's own evidence. A fixed threshold
// cannot be right everywhere: a stranger is compared with every one of the N enrolled people, so
// the chance that one of them scores above the threshold grows with N. This module turns impostor
// scores (a face against a person it is not) into a fitted upper tail and reads off the threshold
// that keeps the chance of naming a stranger under a target at a given gallery size, with the
// genuine accept rate to expect there. Pure arithmetic over embeddings and scores: the command
// (src/cli/commands/calibrate.ts) gathers them from the stores and the labelled folder.
import { nearestRank } from '../percentile.js';
import { seededRandom } from '../seeded-random.js';
import { MIN_SAFE_MATCH } from './decision.js';
import { bestCosine, leaveOneOutScores } from './similarity.js';

// ---------------------------------------------------------------------------------------------
// Scores as the decision sees them

/** One enrolled embedding (or one labelled photo, its person as the user). */
export interface GalleryVector {
  userId: string;
  vector: Float32Array;
}

/** A face the cameras kept as unknown, with the user its group was later enrolled as or assigned to. */
export interface StrangerVector {
  vector: Float32Array;
  /** null while the face is nobody known (its group open). */
  ownerUserId: string | null;
}

function byUser(gallery: readonly GalleryVector[]): Map<string, Float32Array[]> {
  const users = new Map<string, Float32Array[]>();
  for (const g of gallery) users.set(g.userId, [...(users.get(g.userId) ?? []), g.vector]);
  return users;
}

/**
 * The most impostor scores one source contributes. Every probe against every user grows as the
 * square of the gallery: 1,000 users with 3 embeddings each give 3 million scores, 21 s of cosines
 * on one core of the development machine (AMD EPYC), and 10,000 users would take 100 times that.
 * A million scores leave 10,000 above the 99th percentile, a hundred times what the fit needs;
 * beyond them a seeded sample of the probes is used, each still scored against every user.
 */
export const MAX_SCORES_PER_SOURCE = 1_000_000;

/** How many probes a source had and how many were scored (all, unless MAX_SCORES_PER_SOURCE was reached). */
export interface ProbeSample {
  probes: number;
  used: number;
}

/** The probes to score: all of them, or a seeded random subset when they would give more than MAX_SCORES_PER_SOURCE scores. */
function sampleProbes<T>(probes: readonly T[], scoresPerProbe: number, seed: number): T[] {
  const keep = Math.max(1, Math.floor(MAX_SCORES_PER_SOURCE / Math.max(1, scoresPerProbe)));
  if (probes.length <= keep) return [...probes];
  const random = seededRandom(seed);
  const out = [...probes];
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(random() * (out.length - i));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out.slice(0, keep);
}

/**
 * The galleries against each other, per user as decideFace scores a face (src/recognition/decision.ts:
 * a user's score is their best embedding's): each embedding of user A as a probe against every
 * other user B gives one impostor score, the best over B's embeddings; against the rest of A's own
 * gallery (leave-one-out best) it gives one genuine score, when A has another embedding.
 */
export function galleryScores(gallery: readonly GalleryVector[]): {
  impostor: number[];
  genuine: number[];
  sample: ProbeSample;
} {
  const users = [...byUser(gallery)];
  const genuine: number[] = [];
  for (const [, own] of users) if (own.length > 1) genuine.push(...leaveOneOutScores(own));
  const impostor: number[] = [];
  const probes = sampleProbes(gallery, users.length - 1, 1);
  for (const probe of probes)
    for (const [userB, vectors] of users) if (userB !== probe.userId) impostor.push(bestCosine(probe.vector, vectors));
  return { impostor, genuine, sample: { probes: gallery.length, used: probes.length } };
}

/**
 * Every kept unknown face against every enrolled user (best over the user's embeddings), except
 * the user its group was later enrolled as or assigned to: that face is that person, not a
 * stranger. Employees the cameras missed and nobody has reviewed yet are in here as strangers; their
 * scores against their own gallery are genuine-high, so they can only push the tail up and the
 * threshold with it: the safe direction.
 */
export function strangerScores(
  faces: readonly StrangerVector[],
  gallery: readonly GalleryVector[],
): { impostor: number[]; sample: ProbeSample } {
  const users = [...byUser(gallery)];
  const impostor: number[] = [];
  const probes = sampleProbes(faces, users.length, 2);
  for (const face of probes)
    for (const [userId, vectors] of users)
      if (userId !== face.ownerUserId) impostor.push(bestCosine(face.vector, vectors));
  return { impostor, sample: { probes: faces.length, used: probes.length } };
}

// ---------------------------------------------------------------------------------------------
// The impostor tail: a Generalized Pareto distribution over the exceedances

/**
 * Too little data to propose from. The fitted shape's standard error is about (1 + shape) / sqrt(m)
 * for m exceedances (the GPD's asymptotic ML variance, Smith 1985; PWM is close to it near shape
 * 0): 0.08 at m = 100 for a shape of -0.2, already a wide band for a tail read at 1e-6, and wider
 * below. With the tail threshold at the 95th percentile at the lowest, 100 exceedances need 2,000
 * scores.
 */
export const MIN_EXCEEDANCES = 100;
export const MIN_IMPOSTOR_SCORES = 2_000;
/** Tail thresholds tried, highest first: the 99th percentile when it leaves enough exceedances (10,000 scores), else the 95th. */
export const TAIL_QUANTILES = [0.99, 0.95] as const;

export class CalibrationRefusedError extends Error {
  override name = 'CalibrationRefusedError';

  /** The fit and its check against the data, when the refusal is that they disagree (for the report). */
  constructor(
    message: string,
    readonly evidence: { fit: TailFit; check: TailCheckPoint[] } | null = null,
  ) {
    super(message);
  }
}

export interface TailFit {
  /** Impostor scores fitted. */
  scores: number;
  /** The tail starts above this score (the percentile tailQuantile of the scores). */
  threshold: number;
  tailQuantile: number;
  /** Scores above the threshold, and their share of all scores (the tail's weight). */
  exceedances: number;
  rate: number;
  /** GPD shape xi (< 0: a bounded tail, as cosine scores are) and scale sigma. */
  shape: number;
  scale: number;
  /** The fitted tail's highest possible score (threshold - scale / shape when shape < 0), else null. */
  endpoint: number | null;
  highestScore: number;
}

/**
 * Fits P(X > x) = rate * (1 + shape (x - threshold) / scale)^(-1/shape) for x above the threshold
 * by probability-weighted moments (Hosking & Wallis, "Parameter and quantile estimation for the
 * generalized Pareto distribution", Technometrics 29, 1987). PWM rather than maximum likelihood:
 * a closed form with no optimiser to fail or to stop early; Hosking and Wallis found it more
 * reliable than ML below a few hundred exceedances, which is what a site has; and cosine scores
 * have a bounded tail (shape < 0), where ML is non-regular below shape -0.5 (Smith, Biometrika
 * 72, 1985) and its likelihood can run off to the endpoint.
 */
export function fitImpostorTail(impostor: readonly number[]): TailFit {
  const n = impostor.length;
  if (n < MIN_IMPOSTOR_SCORES) {
    throw new CalibrationRefusedError(
      `Expected at least ${MIN_IMPOSTOR_SCORES.toLocaleString('en-US')} impostor scores to fit their tail but there were ${n.toLocaleString('en-US')}`,
    );
  }
  const sorted = [...impostor].sort((a, b) => a - b);
  const exceedancesAbove = (u: number) => n - upperBound(sorted, u);
  const tailQuantile = TAIL_QUANTILES.find((q) => exceedancesAbove(nearestRank(sorted, q)) >= MIN_EXCEEDANCES);
  if (tailQuantile === undefined) {
    const u = nearestRank(sorted, TAIL_QUANTILES[TAIL_QUANTILES.length - 1] as number);
    throw new CalibrationRefusedError(
      `Expected at least ${MIN_EXCEEDANCES} impostor scores above the tail threshold (${u.toFixed(3)}, the 95th percentile) but there were ${exceedancesAbove(u)} (many scores tie there)`,
    );
  }
  const threshold = nearestRank(sorted, tailQuantile);
  const ys = sorted.slice(upperBound(sorted, threshold)).map((x) => x - threshold);
  const m = ys.length;
  // The unbiased sample PWMs of the exceedances (ascending): a0 = mean, a1 = mean of y_(j) (m - j) / (m - 1).
  const a0 = ys.reduce((s, y) => s + y, 0) / m;
  const a1 = ys.reduce((s, y, i) => s + (y * (m - 1 - i)) / (m - 1), 0) / m;
  const k = a0 / (a0 - 2 * a1) - 2; // Hosking's k = -shape
  const scale = (2 * a0 * a1) / (a0 - 2 * a1);
  if (!Number.isFinite(k) || !Number.isFinite(scale) || scale <= 0) {
    throw new CalibrationRefusedError(
      `Expected impostor scores that spread above the tail threshold ${threshold.toFixed(3)} but their ${m} exceedances give no usable fit (scale ${scale})`,
    );
  }
  const shape = -k;
  return {
    scores: n,
    threshold,
    tailQuantile,
    exceedances: m,
    rate: m / n,
    shape,
    scale,
    endpoint: shape < 0 ? threshold - scale / shape : null,
    highestScore: sorted[n - 1] as number,
  };
}

/** The index of the first score above x in ascending `sorted` (how many are at or below x). */
function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The fitted P(score > x), for x at or above the tail threshold. */
export function fittedTail(fit: TailFit, x: number): number {
  const y = Math.max(0, x - fit.threshold);
  if (Math.abs(fit.shape) < 1e-9) return fit.rate * Math.exp(-y / fit.scale);
  const base = 1 + (fit.shape * y) / fit.scale;
  return base <= 0 ? 0 : fit.rate * base ** (-1 / fit.shape);
}

/** The score the fitted tail exceeds with probability p (p below the tail's weight). */
export function fittedQuantile(fit: TailFit, p: number): number {
  const ratio = Math.min(1, p / fit.rate);
  if (Math.abs(fit.shape) < 1e-9) return fit.threshold - fit.scale * Math.log(ratio);
  return fit.threshold + (fit.scale / fit.shape) * (ratio ** -fit.shape - 1);
}

export interface TailCheckPoint {
  score: number;
  /** Impostor scores above it, their share, and the share the fit predicts. */
  observedAbove: number;
  observed: number;
  fitted: number;
}

/**
 * The fit against the data it came from, at the scores that leave 1/2, 1/5, 1/10, 1/20 and 1/50 of
 * the exceedances above them (while at least 3 remain: fewer say nothing), and at the highest score.
 */
export function tailCheck(fit: TailFit, impostor: readonly number[]): TailCheckPoint[] {
  const desc = [...impostor].sort((a, b) => b - a);
  const n = desc.length;
  const counts = [2, 5, 10, 20, 50].map((d) => Math.floor(fit.exceedances / d)).filter((c) => c >= 3);
  const points = [...new Set(counts)].map((c) => desc[c] as number);
  points.push(desc[0] as number);
  return points.map((score) => {
    const above = desc.findIndex((s) => s <= score);
    const observedAbove = above === -1 ? n : above;
    return { score, observedAbove, observed: observedAbove / n, fitted: fittedTail(fit, score) };
  });
}

// ---------------------------------------------------------------------------------------------
// Whether the fit may be used at all

/**
 * How unlikely the observed count above a check point must be under the fit before the fit is
 * taken to contradict its data. Above a score the fit expects lambda = n x fitted share of the n
 * scores; a count that high or higher happens by chance with the Poisson probability
 * P(X >= observed | lambda) (a rare-event count of many scores). Under 1e-3 at any of the at most
 * five checked points, a correct fit is refused by chance well under 1 % of the time, even allowing
 * for scores that share probes being less independent than Poisson assumes. Issue 13's site of 19
 * people (2,322 scores from lfw10, bbt and obama) had 5 scores above 0.332 where its fit expected
 * 0.23: a chance of 4e-6. Only a fit UNDER the data is refused: one above it proposes a
 * higher threshold, the safe direction.
 */
export const FIT_CONTRADICTION_P = 1e-3;

/** P(X >= k) for X ~ Poisson(lambda), summed from k up (no 1 - sum: the answers wanted are tiny). */
export function poissonAtLeast(k: number, lambda: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  if (lambda >= k) return 1 - poissonAtMost(k - 1, lambda);
  let logFactorial = 0;
  for (let i = 2; i <= k; i++) logFactorial += Math.log(i);
  let term = Math.exp(-lambda + k * Math.log(lambda) - logFactorial);
  let sum = 0;
  for (let i = k; term > sum * 1e-17 && i < k + 100_000; i++) {
    sum += term;
    term *= lambda / (i + 1);
  }
  return Math.min(1, sum);
}

function poissonAtMost(k: number, lambda: number): number {
  let term = Math.exp(-lambda);
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term *= lambda / i;
    sum += term;
  }
  return Math.min(1, sum);
}

/**
 * Why the fit cannot be read for a threshold, in words; empty when it can. Two ways a fit
 * contradicts the scores it came from (issue 13, D1: a site of 19 people got 0.400 from a fit
 * ending at 0.331 when a stranger had already scored 0.340):
 * - a bounded tail that ends at or below the highest impostor score seen calls that score
 *   impossible, so every quantile it gives for a small probability is below real strangers;
 * - a fitted share far under the observed one at a check point (FIT_CONTRADICTION_P): the fit
 *   bends down before the data does, and its far tail is lower still.
 */
export function fitContradictions(fit: TailFit, check: readonly TailCheckPoint[]): string[] {
  const out: string[] = [];
  if (fit.endpoint !== null && fit.endpoint <= fit.highestScore) {
    out.push(
      `the fitted tail ends at ${fit.endpoint.toFixed(3)}, at or below the highest impostor score seen (${fit.highestScore.toFixed(3)}), so it calls a score strangers already reached impossible`,
    );
  }
  for (const p of check) {
    const expected = p.fitted * fit.scores;
    if (p.observedAbove === 0 || expected >= p.observedAbove) continue;
    const chance = poissonAtLeast(p.observedAbove, expected);
    if (chance < FIT_CONTRADICTION_P) {
      out.push(
        `above ${p.score.toFixed(3)} the fit expects ${expected.toPrecision(2)} of the ${fit.scores.toLocaleString('en-US')} scores but ${p.observedAbove} are there ` +
          `(a chance of ${chance.toExponential(1)} were the fit right; under ${FIT_CONTRADICTION_P} it is taken to contradict them)`,
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The threshold for a gallery size

/**
 * The per-user false match probability allowed so that a stranger meeting N enrolled users is
 * named with probability at most `target`: 1 - (1 - target)^(1/N), each comparison taken as
 * independent (computed through log1p/expm1: target 1e-4 at N 10,000 is 1e-8, beyond what
 * 1 - x keeps in double precision).
 */
export function perUserFalseMatch(target: number, gallerySize: number): number {
  return -Math.expm1(Math.log1p(-target) / gallerySize);
}

/**
 * Above the highest impostor score seen by this much at least: that score was a stranger's, and so
 * may be the next face within the 3 decimals scores are printed and thresholds stored with.
 */
export const ABOVE_HIGHEST_IMPOSTOR = 0.01;

export interface ThresholdProposal {
  gallerySize: number;
  perUserFalseMatch: number;
  /** The fitted tail's (1 - perUserFalseMatch) quantile. */
  tailScore: number;
  /** What the site should run with: rounded up to 3 decimals, never under the two floors below. */
  threshold: number;
  /** What set it: the fitted tail, the highest impostor score + ABOVE_HIGHEST_IMPOSTOR, or MIN_SAFE_MATCH. */
  boundBy: 'fitted tail' | 'highest impostor score' | 'safety floor';
  /** Share of genuine scores at or above the threshold (decideFace accepts a score equal to it); null without genuine scores. */
  genuineAccept: number | null;
}

export function proposeThreshold(
  fit: TailFit,
  genuine: readonly number[],
  target: number,
  gallerySize: number,
): ThresholdProposal {
  const p = perUserFalseMatch(target, gallerySize);
  const tailScore = fittedQuantile(fit, p);
  const candidates: [number, ThresholdProposal['boundBy']][] = [
    [tailScore, 'fitted tail'],
    [fit.highestScore + ABOVE_HIGHEST_IMPOSTOR, 'highest impostor score'],
    [MIN_SAFE_MATCH, 'safety floor'],
  ];
  const [raw, boundBy] = candidates.reduce((a, b) => (b[0] > a[0] ? b : a));
  // Up, to 3 decimals (the small epsilon keeps 0.45 from becoming 0.451 through 0.45000000000000001 x 1000).
  const threshold = Math.min(1, Math.ceil(raw * 1000 - 1e-9) / 1000);
  return {
    gallerySize,
    perUserFalseMatch: p,
    tailScore,
    threshold,
    boundBy,
    genuineAccept: genuine.length === 0 ? null : genuine.filter((s) => s >= threshold).length / genuine.length,
  };
}

// ---------------------------------------------------------------------------------------------
// The whole calibration

export interface CalibrationInput {
  impostor: { gallery: readonly number[]; unknown: readonly number[]; labelled: readonly number[] };
  genuine: { gallery: readonly number[]; labelled: readonly number[] };
  /** The highest acceptable probability that a stranger is named (config recognition.calibrationTarget). */
  target: number;
  /** Active enrolled users now. */
  gallerySize: number;
}

/** The gallery sizes every report compares (issue 13: how the threshold must rise as a site grows). */
export const COMPARED_GALLERY_SIZES = [10, 100, 1_000, 10_000] as const;

export interface Calibration {
  target: number;
  counts: {
    impostor: { gallery: number; unknown: number; labelled: number; total: number };
    genuine: { gallery: number; labelled: number; total: number };
  };
  fit: TailFit;
  check: TailCheckPoint[];
  /** At the current gallery size; null when nobody is enrolled. */
  proposal: ThresholdProposal | null;
  compared: ThresholdProposal[];
}

/** Throws CalibrationRefusedError when the data cannot support a proposal (the message says how much is needed). */
export function calibrate(input: CalibrationInput): Calibration {
  if (!(input.target > 0 && input.target < 1))
    throw new RangeError(`Expected a target between 0 and 1 (exclusive) but received ${input.target}`);
  const impostor = [...input.impostor.gallery, ...input.impostor.unknown, ...input.impostor.labelled];
  const genuine = [...input.genuine.gallery, ...input.genuine.labelled];
  const counts = {
    impostor: {
      gallery: input.impostor.gallery.length,
      unknown: input.impostor.unknown.length,
      labelled: input.impostor.labelled.length,
      total: impostor.length,
    },
    genuine: { gallery: input.genuine.gallery.length, labelled: input.genuine.labelled.length, total: genuine.length },
  };
  let fit: TailFit;
  try {
    fit = fitImpostorTail(impostor);
  } catch (error) {
    if (!(error instanceof CalibrationRefusedError)) throw error;
    const c = counts.impostor;
    throw new CalibrationRefusedError(
      `${error.message} (enrolled galleries ${c.gallery}, unknown faces ${c.unknown}, labelled folder ${c.labelled}). ` +
        `More come from more people enrolled, from the unknown faces the cameras keep, or from ${c.labelled > 0 ? 'a larger' : 'a'} labelled folder (--labelled <folder>, one sub-folder per person)`,
    );
  }
  const check = tailCheck(fit, impostor);
  const contradictions = fitContradictions(fit, check);
  if (contradictions.length > 0) {
    const c = counts.impostor;
    throw new CalibrationRefusedError(
      `Expected a fitted impostor tail that agrees with the scores it came from but ${contradictions.join('; and ')}. ` +
        `A threshold read from it would sit below what strangers already score (enrolled galleries ${c.gallery}, unknown faces ${c.unknown}, labelled folder ${c.labelled}). ` +
        `More scores give a tail the fit can follow: more people enrolled, the unknown faces the cameras keep, or ${c.labelled > 0 ? 'a larger' : 'a'} labelled folder (--labelled <folder>, one sub-folder per person)`,
      { fit, check },
    );
  }
  return {
    target: input.target,
    counts,
    fit,
    check,
    proposal: input.gallerySize >= 1 ? proposeThreshold(fit, genuine, input.target, input.gallerySize) : null,
    compared: COMPARED_GALLERY_SIZES.map((n) => proposeThreshold(fit, genuine, input.target, n)),
  };
}
