// The match decision: "known" only on strong, unambiguous evidence, "unknown" otherwise. The
// customer's first design goal rules every number here: a stranger called an employee is the
// worst failure, a missed employee only costs a retry.
import type { EmbeddingMatch } from '../../storage/embeddings/embedding-store.js';
import { userThreshold, type UserThresholdLookup } from './user-thresholds.js';

export interface DecisionThresholds {
  /** The best user's score must reach this (cosine). */
  match: number;
  /** ... and lead the runner-up user by at least this. */
  margin: number;
  /** Live video: frames of one track that must each say the same user. */
  minVotes: number;
  /** ... and the share of the track's decided frames that user must win. */
  minVoteShare: number;
}

/**
 * The defaults a site runs with until `facegate calibrate --apply` measures its own. They must keep
 * a gallery of 1,000 people safe on the evidence we have, and that evidence is thin: the product's
 * vision (YuNet + fr_feature, quality gate on) on ../shared/faces (lfw10, bbt and the obama/biden
 * photos: 129 faces of 20 people, 7,859 different-person pairs, 397 same-person pairs):
 * - Different people: mean 0.012, sd 0.101, highest 0.340 (lfw10; bbt's highest 0.240). Issue
 *   13's outside test (76 photos of about 25 other people, 2,481 different-person pairs) saw
 *   0.515, 0.463 and 0.461: a site has lookalikes that these sets lack.
 * - A stranger facing 1,000 users of 3 photos each meets about 3,000 pairs, so 1 stranger in
 *   10,000 named needs a per-pair false match rate near 3e-8, far past what 7,859 pairs can show.
 *   Extrapolated: a generalized Pareto tail fitted above the 99th (95th) percentile puts it at
 *   0.39 (0.37); a normal fitted to all the different-person scores, which lets the tail be as
 *   heavy as the body, at 0.556 (1e-6 at 0.49).
 * - Same person, enrolled from 3 photos (the `facegate eval` open-set simulation, 200 random
 *   galleries; 0 false accepts in 13,800 and 5,600 decisions at every threshold here):
 *   lfw10 0.981 at 0.50, 0.968 at 0.53, 0.958 at 0.54, 0.956 at 0.55; bbt 0.992, 0.976, 0.976, 0.948.
 * - match 0.54: the highest threshold at which 3-photo enrolments are still recognised at 0.95 or
 *   more on both sets; 0.025 above the highest different-person score seen with this model
 *   (0.515), above both tail fits' 1,000-person point and at the normal fit's (about 5e-8 per
 *   pair). A site with more people, or its own lookalikes, raises it with `facegate calibrate`,
 *   which measures the site's own tail at its gallery size. The simulation's figures: `facegate
 *   eval` on each set; the tail fits (maximum likelihood, on those sets' pair scores together):
 *   issue 13's note.
 * - margin 0.10: two enrolled people both scoring near the threshold is a face the index cannot
 *   tell apart; the runner-up must trail by more than the spread of one person's own photos'
 *   nearest neighbours (0.03-0.06 here).
 * - votes: 3 frames at the default 5 fps is 0.6 s of one face, and 60 % of the track's decided
 *   frames must agree: one lucky frame never names anyone.
 */
export const DEFAULT_DECISION_THRESHOLDS: Readonly<DecisionThresholds> = Object.freeze({
  match: 0.54,
  margin: 0.1,
  minVotes: 3,
  minVoteShare: 0.6,
});

/**
 * Live video: a track that names nobody is decided "unknown" after this many decided frames (or
 * when it ends), so a stranger's event is written while they are still there. 5: 1 s at the
 * default 5 fps, room for the 3 votes above to agree on someone before it is called unknown.
 */
export const DEFAULT_UNKNOWN_AFTER_FRAMES = 5;

/**
 * The floors a configured threshold may not go under without an explicit override
 * (`recognition.allowUnsafeThresholds`), because below them strangers are matched routinely.
 * Measured with the product's own vision (YuNet + fr_feature, quality gate on and off) on
 * ../shared/faces/lfw10 (10 people, 100 photos, 4,500 different-person pairs): the highest
 * different-person score was 0.365, and the share of different-person pairs at or above a
 * threshold was 0.04 % at 0.35, 0.3 % at 0.30, 2.2 % at 0.25, 25 % at 0.10 and 57 % at 0. A
 * stranger facing N enrolled people meets N such pairs, so at 0.30 with 100 users about one
 * stranger in four is named. Issue 13 saw a lookalike score 0.515 on a larger set: 0.40 is
 * already inside the impostor range, not a safe choice, only the point below which a threshold
 * is refused. Same-person pairs at 0.40: 98 % (0.54: 87 %; from 3 enrolled photos, 0.96).
 * - margin 0.05: under the spread of one person's own nearest neighbours (0.03-0.06, above) two
 *   enrolled people are noise apart, and margin 0 names whichever of two lookalikes wins by 0.001.
 */
export const MIN_SAFE_MATCH = 0.4;
export const MIN_SAFE_MARGIN = 0.05;

/** Each threshold under its floor, as "what, the floor, what was received". Empty when safe. */
export function unsafeThresholds(
  t: Pick<DecisionThresholds, 'match' | 'margin'>,
): { key: 'match' | 'margin'; floor: number; received: number; why: string }[] {
  const out: { key: 'match' | 'margin'; floor: number; received: number; why: string }[] = [];
  if (t.match < MIN_SAFE_MATCH)
    out.push({
      key: 'match',
      floor: MIN_SAFE_MATCH,
      received: t.match,
      why: 'below it strangers are matched routinely',
    });
  if (t.margin < MIN_SAFE_MARGIN)
    out.push({
      key: 'margin',
      floor: MIN_SAFE_MARGIN,
      received: t.margin,
      why: 'below it two lookalike users cannot be told apart',
    });
  return out;
}

export type UserStatusLookup = (userId: string) => 'active' | 'disabled' | undefined;

export interface FaceDecision {
  decision: 'known' | 'unknown';
  /** The recognised user; null when unknown. */
  userId: string | null;
  /** The best match's score (whoever it was), 0 without matches. */
  score: number;
  /** How far the best user leads the runner-up user (the best score itself when there is none). */
  margin: number;
  reason: string;
}

const fmt = (v: number) => v.toFixed(3);

/** One face's decision from its top-k matches (any k; several matches per user are fine). */
export function decideFace(
  matches: readonly EmbeddingMatch[],
  statusOf: UserStatusLookup,
  t: Readonly<DecisionThresholds> = DEFAULT_DECISION_THRESHOLDS,
  /** Per-user thresholds raised by match corrections (user-thresholds.ts); none: the site's for everyone. */
  thresholdOf?: UserThresholdLookup,
): FaceDecision {
  const bestPerUser = new Map<string, number>();
  for (const m of matches) bestPerUser.set(m.userId, Math.max(bestPerUser.get(m.userId) ?? -Infinity, m.score));
  const ranked = [...bestPerUser].sort((a, b) => b[1] - a[1]);
  const [best, runnerUp] = ranked;
  if (!best) return { decision: 'unknown', userId: null, score: 0, margin: 0, reason: 'no enrolled faces' };
  const [userId, score] = best;
  const margin = runnerUp ? score - runnerUp[1] : score;
  if (score < t.match) {
    return {
      decision: 'unknown',
      userId: null,
      score,
      margin,
      reason: `best score ${fmt(score)} below the match threshold ${t.match}`,
    };
  }
  // The face is most like a user whose own threshold was raised (a face once wrongly taken for
  // them, or a lookalike enrolled): below it, nobody is named, not the runner-up either.
  const own = userThreshold(t.match, thresholdOf?.(userId));
  if (score < own.threshold) {
    return {
      decision: 'unknown',
      userId: null,
      score,
      margin,
      reason: `best score ${fmt(score)} below ${userId}'s own threshold ${fmt(own.threshold)} (raised by ${own.corrections} correction${own.corrections === 1 ? '' : 's'})`,
    };
  }
  if (runnerUp && margin < t.margin) {
    return {
      decision: 'unknown',
      userId: null,
      score,
      margin,
      reason: `ambiguous: ${userId} ${fmt(score)} vs ${runnerUp[0]} ${fmt(runnerUp[1])} (margin below ${t.margin})`,
    };
  }
  // The face is most like a disabled user: it is that person, who must not be let through as
  // anyone, and not the runner-up either.
  const status = statusOf(userId);
  if (status !== 'active') {
    return {
      decision: 'unknown',
      userId: null,
      score,
      margin,
      reason:
        status === 'disabled' ? `matches disabled user ${userId}` : `matches ${userId}, who is no longer enrolled`,
    };
  }
  return { decision: 'known', userId, score, margin, reason: `matched ${userId} at ${fmt(score)}` };
}

/** A track's decision from its frames' decisions: the same user must win enough of them. */
export function decideTrack(
  frames: readonly FaceDecision[],
  t: Readonly<DecisionThresholds> = DEFAULT_DECISION_THRESHOLDS,
): FaceDecision {
  if (frames.length === 0) return { decision: 'unknown', userId: null, score: 0, margin: 0, reason: 'no usable frame' };
  const votes = new Map<string, number[]>();
  for (const f of frames)
    if (f.decision === 'known' && f.userId) votes.set(f.userId, [...(votes.get(f.userId) ?? []), f.score]);
  const [leader] = [...votes].sort((a, b) => b[1].length - a[1].length);
  const bestScore = Math.max(...frames.map((f) => f.score));
  const margin = Math.min(...frames.map((f) => f.margin));
  if (!leader) {
    return { decision: 'unknown', userId: null, score: bestScore, margin, reason: frames[0]?.reason ?? 'unknown' };
  }
  const [userId, scores] = leader;
  const share = scores.length / frames.length;
  if (scores.length < t.minVotes || share < t.minVoteShare) {
    return {
      decision: 'unknown',
      userId: null,
      score: bestScore,
      margin,
      reason: `${userId} won ${scores.length} of ${frames.length} frames (needs ${t.minVotes} and ${Math.round(t.minVoteShare * 100)} %)`,
    };
  }
  const score = scores.reduce((s, v) => s + v, 0) / scores.length;
  return {
    decision: 'known',
    userId,
    score,
    margin,
    reason: `matched ${userId} in ${scores.length} of ${frames.length} frames`,
  };
}
