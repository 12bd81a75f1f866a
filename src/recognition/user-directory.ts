// Who is enrolled and whether they are active, kept in memory: decisions are made per frame and
// must not wait on (or fail with) the database. Refreshed from the DbStore when it changes and
// on a timer; while the database is down the last known state stands.
import type { DbStore } from '../../storage/db/db-store.js';
import type { UserStatusLookup } from './decision.js';

export class UserDirectory {
  private statuses = new Map<string, 'active' | 'disabled'>();

  constructor(private readonly db: DbStore) {}

  async refresh(): Promise<void> {
    const users = await this.db.listUsers();
    this.statuses = new Map(users.map((u) => [u.id, u.status]));
  }

  readonly statusOf: UserStatusLookup = (userId) => this.statuses.get(userId);

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
