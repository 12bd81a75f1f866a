// The change follower (issue 18: many appliances, one PostgreSQL): keeps this appliance's embedding
// index a current cache of the central database by applying the change feed (migration 007) after
// the index's mark, in seq order, a batch per snapshot generation, each generation carrying its
// new mark (stats.json's applied_seq), so the index and its mark never disagree after a crash and a
// restart resumes where it stopped. Woken by the database's NOTIFY, by a poll (a notification lost
// with a dropped link), and by the database's return after an outage (the changes missed meanwhile).
//
// Applying is idempotent: an add skips ids the index already holds (an appliance sees its own
// enrolments, which it indexed at once) and ids whose row is gone (deleted by a later change, which
// removes them anyway); a removal skips ids the index lacks. So a change applied twice, or applied to
// a rebuild that already holds it, leaves the same index. What cannot be explained (a gap in the
// seqs, a feed behind the snapshot's mark, an embedding gone with no removal, an apply that fails)
// falls back to the existing verify/rebuild, and the mark becomes the latest seq read before it.
import type { Change, EmbeddingRecord } from '../db/db-store.js';
import { ReadOnlyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EmbeddingEntry } from './embedding-store.js';
import type { ChangeStep, FlatEmbeddingStore } from './flat-embedding-store.js';

/** The part of the DbStore the follower reads. */
export interface ChangeSource {
  health(): { available: boolean };
  onAvailable(listener: () => void): void;
  onChangeNotified(listener: (seq: bigint | null) => void): void;
  readChanges(afterSeq: bigint, limit: number): Promise<Change[]>;
  latestChangeSeq(): Promise<bigint>;
  embeddingsByIds(ids: bigint[]): Promise<EmbeddingRecord[]>;
}

/** For /health: how far this appliance's index is behind the central database. */
export interface ChangeFeedStats {
  /** The mark the index holds every change up to; null until it was first compared with the feed. */
  appliedSeq: number | null;
  /** The highest seq this appliance has heard of (a read, a poll or a notification); null: none yet. */
  latestSeq: number | null;
  /** latestSeq - appliedSeq (0 when unknown). */
  behind: number;
  /** Seconds since the oldest change not yet applied was made (0 when none is known to wait). */
  secondsBehind: number;
  /** When the last batch was applied (ISO); null: none since open. */
  lastAppliedAt: string | null;
  /** Changes applied since open (each counted once, those skipped as another model's included). */
  applied: number;
  /** Verifies the follower fell back to since open (a gap, a failed apply, a snapshot without a mark). */
  verifies: number;
}

export interface ChangeFeed {
  /**
   * Called after each applied batch with the users it changed (created, status, roles, deleted,
   * embeddings), each once; with [] after a verify that went past changes unread: refresh them all.
   */
  onUsersChanged(listener: (userIds: string[]) => void): void;
  /** Applies every change after the mark now (what a notification does); resolves with how many. */
  catchUp(): Promise<number>;
  stats(): ChangeFeedStats;
  /** Stops the poll and waits for a batch in progress. */
  close(): Promise<void>;
}

export interface ChangeFollowerOptions {
  logger: Logger;
  /** Changes read and applied per snapshot generation; default 500. */
  batchSize?: number | undefined;
  /** The safety-net poll for a lost notification; default 3 s. */
  pollMs?: number | undefined;
}

const DEFAULT_BATCH = 500;
const DEFAULT_POLL_MS = 3_000;

/** Thrown inside a catch-up for what only a verify can settle; never leaves this module. */
class NeedsVerify extends Error {}

export class ChangeFollower implements ChangeFeed {
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly usersListeners: ((userIds: string[]) => void)[] = [];
  private running: Promise<number> | null = null;
  private again = false;
  private closed = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private latestSeq: bigint | null = null;
  /** The time of the first change after the mark, as last read; null: none known to wait. */
  private pendingSince: Date | null = null;
  private lastAppliedAt: Date | null = null;
  private applied = 0;
  private verifies = 0;

  constructor(
    private readonly db: ChangeSource,
    private readonly index: FlatEmbeddingStore,
    private readonly options: ChangeFollowerOptions,
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  }

  /** Listens, polls, and catches up once now (when the database is there). */
  async start(): Promise<void> {
    this.db.onChangeNotified((seq) => {
      if (seq !== null && (this.latestSeq === null || seq > this.latestSeq)) this.latestSeq = seq;
      const mark = this.index.changeMark();
      // Our own change, or one already applied: nothing to read.
      if (seq !== null && mark !== null && seq <= mark) return;
      void this.catchUp();
    });
    this.db.onAvailable(() => void this.catchUp());
    this.pollTimer = setInterval(() => {
      if (this.db.health().available) void this.catchUp();
    }, this.pollMs);
    this.pollTimer.unref();
    await this.catchUp();
  }

  onUsersChanged(listener: (userIds: string[]) => void): void {
    this.usersListeners.push(listener);
  }

  // One catch-up at a time; a wake-up during one runs it again after (its changes may be past the
  // read that is in progress).
  catchUp(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let total = 0;
      do {
        this.again = false;
        total += await this.catchUpOnce();
      } while (this.again && !this.closed);
      return total;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  stats(): ChangeFeedStats {
    const mark = this.index.changeMark();
    const behind = mark !== null && this.latestSeq !== null && this.latestSeq > mark ? this.latestSeq - mark : 0n;
    return {
      appliedSeq: mark === null ? null : Number(mark),
      latestSeq: this.latestSeq === null ? null : Number(this.latestSeq),
      behind: Number(behind),
      secondsBehind:
        behind > 0n && this.pendingSince ? Math.max(0, (Date.now() - this.pendingSince.getTime()) / 1000) : 0,
      lastAppliedAt: this.lastAppliedAt?.toISOString() ?? null,
      applied: this.applied,
      verifies: this.verifies,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.running?.catch(() => undefined);
  }

  private async catchUpOnce(): Promise<number> {
    if (this.closed || !this.db.health().available) return 0;
    try {
      return await this.applyAll();
    } catch (error) {
      // The database went away mid-way: what was applied is saved with its mark; its return wakes us.
      if (error instanceof ReadOnlyError) return 0;
      const reason = error instanceof NeedsVerify ? error.message : 'applying a change failed';
      if (!(error instanceof NeedsVerify))
        this.options.logger.warn({ err: error }, 'change feed: applying a change failed; verifying the index');
      // Verified: the changes after its mark (made during the verify) are read at once.
      const verified = await this.verify(reason).catch((verifyError: unknown) => {
        if (!(verifyError instanceof ReadOnlyError))
          this.options.logger.error({ err: verifyError }, 'change feed: verify failed; retried at the next poll');
        return false;
      });
      if (verified) this.again = true;
      return 0;
    }
  }

  private async applyAll(): Promise<number> {
    let mark = this.index.changeMark();
    if (mark === null) {
      // A snapshot from before the change feed (or a fresh data root): verified, it is the state
      // at the seq read before the verify.
      await this.verify('the embedding snapshot has no change-feed mark');
      mark = this.index.changeMark();
      if (mark === null) return 0;
    }
    let applied = 0;
    // Embeddings an add found gone: a later change must remove them, else the feed is not the whole story.
    const unexplained = new Set<bigint>();
    while (!this.closed) {
      const changes = await this.db.readChanges(mark, this.batchSize);
      if (changes.length === 0) {
        const latest = await this.db.latestChangeSeq();
        this.noteLatest(latest);
        this.pendingSince = null;
        if (latest < mark)
          throw new NeedsVerify(`the database's change feed (seq ${latest}) is behind the snapshot's mark ${mark}`);
        if (unexplained.size > 0)
          throw new NeedsVerify(`${unexplained.size} embeddings added by the feed are gone without a removal`);
        this.index.noteCaughtUp();
        return applied;
      }
      this.pendingSince = (changes[0] as Change).at;
      const last = changes[changes.length - 1] as Change;
      this.noteLatest(last.seq);
      changes.forEach((c, i) => {
        if (c.seq !== (mark as bigint) + BigInt(i) + 1n)
          throw new NeedsVerify(`a gap in the change feed: seq ${c.seq} follows mark ${(mark as bigint) + BigInt(i)}`);
      });
      const { steps, users } = await this.stepsOf(changes, unexplained);
      const result = await this.index.applyChanges(steps, mark, last.seq);
      if (result.stale) {
        // The index went back to an older generation (a reload from disk): read from its mark.
        mark = this.index.changeMark();
        if (mark === null) return applied;
        continue;
      }
      mark = last.seq;
      applied += changes.length;
      this.applied += changes.length;
      this.lastAppliedAt = new Date();
      if (users.size > 0) this.tellUsers([...users]);
    }
    return applied;
  }

  // The batch as index steps: its adds' vectors read in one query (this index's model only).
  private async stepsOf(
    changes: Change[],
    unexplained: Set<bigint>,
  ): Promise<{ steps: ChangeStep[]; users: Set<string> }> {
    const modelId = this.index.modelId;
    const ours = (c: Change) => c.modelId === modelId;
    const wanted = changes.filter((c) => c.kind === 'embeddings-added' && ours(c)).flatMap((c) => c.embeddingIds);
    const rows = new Map<bigint, EmbeddingRecord>();
    if (wanted.length > 0) for (const r of await this.db.embeddingsByIds(wanted)) rows.set(r.id, r);
    const steps: ChangeStep[] = [];
    const users = new Set<string>();
    for (const c of changes) {
      users.add(c.userId);
      if (c.kind === 'user-changed' || !ours(c)) continue;
      if (c.kind === 'embeddings-removed') {
        for (const id of c.embeddingIds) unexplained.delete(id);
        steps.push({ removeIds: c.embeddingIds });
        continue;
      }
      const add: EmbeddingEntry[] = [];
      for (const id of c.embeddingIds) {
        const r = rows.get(id);
        if (!r || r.modelId !== modelId) {
          unexplained.add(id);
          continue;
        }
        add.push({ embeddingId: r.id, userId: r.userId, image: r.image, modelId: r.modelId, vector: r.vector });
      }
      if (add.length > 0) steps.push({ add });
    }
    return { steps, users };
  }

  // The existing verify/rebuild, then the mark is the latest seq read before it.
  private async verify(reason: string): Promise<boolean> {
    const latest = await this.db.latestChangeSeq();
    this.noteLatest(latest);
    this.verifies++;
    this.options.logger.warn({ reason, mark: latest.toString() }, 'change feed: verifying the embedding index');
    const { verified } = await this.index.verifyAt(latest);
    if (verified) {
      this.pendingSince = null;
      this.tellUsers([]);
    }
    return verified;
  }

  private noteLatest(seq: bigint): void {
    if (this.latestSeq === null || seq > this.latestSeq) this.latestSeq = seq;
    // A feed that went back (a restored database) is believed.
    const mark = this.index.changeMark();
    if (mark !== null && seq < mark) this.latestSeq = seq;
  }

  private tellUsers(userIds: string[]): void {
    for (const listener of this.usersListeners) {
      try {
        listener(userIds);
      } catch (error) {
        this.options.logger.error({ err: error }, 'change feed: a users-changed listener threw');
      }
    }
  }
}
