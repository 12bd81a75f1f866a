// Who is enrolled, whether they are active and their roles, kept in memory: decisions are made per frame and
// must not wait on (or fail with) the database. Refreshed from the DbStore when it changes and
// on a timer; while the database is down the last known state stands. With the model in use it
// also holds each user's own threshold, raised by their match corrections (user-thresholds.ts).
import type { DbStore } from '../../storage/db/db-store.js';
import type { UserStatusLookup } from './decision.js';
import { raisedThreshold, type UserThreshold, type UserThresholdLookup } from './user-thresholds.js';

export class UserDirectory {
  private statuses = new Map<string, 'active' | 'disabled'>();
  private roles = new Map<string, readonly string[]>();
  private names = new Map<string, string>();
  private raised = new Map<string, UserThreshold>();

  /**
   * `modelId`: the embedding model in use; corrections count only for the model that scored them.
   * Without it no per-user threshold is loaded (the site's threshold for everyone).
   */
  constructor(
    private readonly db: DbStore,
    private readonly modelId?: string,
  ) {}

  async refresh(): Promise<void> {
    const users = await this.db.listUsers();
    const raises = this.modelId === undefined ? [] : await this.db.correctionRaises(this.modelId);
    this.statuses = new Map(users.map((u) => [u.id, u.status]));
    this.roles = new Map(users.map((u) => [u.id, [...u.roles]]));
    this.names = new Map(users.map((u) => [u.id, u.name]));
    this.raised = new Map(
      raises.map((r) => [r.userId, { raisedTo: raisedThreshold(r.maxScore), corrections: r.count }]),
    );
  }

  readonly statusOf: UserStatusLookup = (userId) => this.statuses.get(userId);

  /** A user's roles as of the last refresh (for the access rules); undefined: not enrolled. */
  readonly rolesOf = (userId: string): readonly string[] | undefined => this.roles.get(userId);

  /** A user's name as of the last refresh (for the outputs' messages); undefined: not enrolled. */
  readonly nameOf = (userId: string): string | undefined => this.names.get(userId);

  /** A user's corrections folded (undefined: none); decideFace compares with the site's threshold. */
  readonly thresholdOf: UserThresholdLookup = (userId) => this.raised.get(userId);

  /**
   * A correction just recorded (by this process) counts at once, before the next refresh: the
   * operator who marked a match wrong must not see the same face named again in the next frame.
   */
  noteCorrection(userId: string, score: number, modelId: string): void {
    if (modelId !== this.modelId) return;
    const now = this.raised.get(userId);
    const raisedTo = raisedThreshold(score);
    this.raised.set(userId, {
      raisedTo: Math.max(raisedTo, now?.raisedTo ?? -Infinity),
      corrections: (now?.corrections ?? 0) + 1,
    });
  }

  get size(): number {
    return this.statuses.size;
  }

  /** Active users: the people a stranger can be named as (the gallery size a threshold is calibrated for). */
  get activeCount(): number {
    let n = 0;
    for (const status of this.statuses.values()) if (status === 'active') n++;
    return n;
  }
}
