// Per-user match thresholds (issue 13, "not this person"): a face that was wrongly taken for a user,
// or a lookalike enrolled beside them, is recorded as a match correction (DbStore's MatchCorrection),
// and that user's own threshold is raised above its score, so the same face, seen again in another
// frame or another photo, is not named as them again. Never below the site's threshold: a
// correction can only make the decision stricter.

/**
 * How far above a correction's score the user's threshold goes: more than one face's score against
 * one gallery moves between shots of that same face. Measured with the product's vision (YuNet +
 * fr_feature, quality gate on) on ../shared/faces/lfw10: each photo in 12 versions (as is; shifted
 * 8 px three ways; rescaled 0.6, 0.8, 1.3; JPEG quality 30 and 60; brightness 0.8 and 1.2; blur
 * sigma 1; rotated 3 degrees), each scored against 3-photo galleries of all 10 people (10 random
 * galleries each): the spread (highest minus lowest score of the versions the gate accepted) was
 * - different person, all 5,130 face/gallery pairs: median 0.047, p99 0.109, max 0.173;
 * - different person scoring 0.25 or more on average (the ones near a threshold, 262): median
 *   0.046, max 0.133;
 * - same person (570): median 0.037, p99 0.106, max 0.117.
 * 0.15 is above every spread seen near a threshold and above the p99 of all of them; the one larger
 * spread (0.173) was a face far below any threshold. A track's event keeps the mean of its winning
 * frames' scores, and the mean lies between the lowest and the highest frame, so a frame of that
 * face scoring above the mean is within the spread as well: mean + 0.15 covers it (the highest
 * frame's lead over the mean was at most 0.087 over all pairs, 0.049 near a threshold).
 * The cost, on the same photos: a user's 3-photo gallery's own photos score each other (best of
 * the other two) 0.30-0.89, median 0.73; a threshold raised to 0.60 refuses the median photo of
 * 4 % of such galleries, raised to 0.70 (a correction just under a 0.55 site threshold) 28 %.
 */
export const CORRECTION_STEP = 0.15;

/** A user's corrections for the model in use, folded: the threshold they raise the user to. */
export interface UserThreshold {
  /** The highest correction score + CORRECTION_STEP (the site's threshold still applies if higher). */
  raisedTo: number;
  /** How many corrections raised it. */
  corrections: number;
}

export type UserThresholdLookup = (userId: string) => UserThreshold | undefined;

/** The threshold a set of corrections whose highest score is `maxScore` asks for. */
export function raisedThreshold(maxScore: number): number {
  // Rounded to 4 places: the score went through the database's float32 `real` column.
  return Math.round((maxScore + CORRECTION_STEP) * 10_000) / 10_000;
}

/** A user's threshold: the site's, or higher where their corrections raise it; never lower. */
export function userThreshold(
  site: number,
  raise: UserThreshold | undefined,
): { threshold: number; corrections: number; raised: boolean } {
  if (!raise || !(raise.raisedTo > site))
    return { threshold: site, corrections: raise?.corrections ?? 0, raised: false };
  return { threshold: raise.raisedTo, corrections: raise.corrections, raised: true };
}

/**
 * Whether a correction would lock its user out: the threshold it raises them to refuses their own
 * face. Above 1 nothing reaches it (a cosine is at most 1); above `ownScore`, how well the user's
 * enrolled photos score each other (lookalike.ts ownPhotoScore; null with fewer than two photos),
 * their own face at the door scores under it about as often as not. A raise at or under the site's
 * threshold changes nothing and never locks anyone out. The one rule for an operator's mark
 * (corrections.ts) and for both people of a lookalike enrolment (lookalike.ts).
 */
export function locksOut(raise: number, site: number, ownScore: number | null): boolean {
  if (!(raise > site)) return false;
  return raise > 1 || (ownScore !== null && raise > ownScore);
}

/**
 * When a new person counts as close to an enrolled one (lookalike pressure at enrolment): their best
 * score against that person's gallery is within CORRECTION_STEP of the site's threshold, that is, another
 * shot of the same faces could reach the threshold (the spread above). Then, and only then, a
 * correction raises a threshold (score + step > site). On lfw10 (3-photo galleries, 200 random
 * draws, 9,000 person pairs) the best cross-person score had median 0.114, p95 0.281, p99 0.332 and
 * max 0.340: 2.1 % of pairs are close at a site threshold of 0.45 (line 0.30), none at 0.55 (line
 * 0.40; issue 13's outside set had a lookalike pair at 0.515, which would be). The spread of those
 * best scores (median to max, 0.226) would put the line at 0.224 and call 16 % of pairs close while
 * raising no threshold for most of them (0.224 + 0.15 < 0.45): the step is the spread that matters.
 */
export function lookalikeLine(site: number): number {
  return site - CORRECTION_STEP;
}
