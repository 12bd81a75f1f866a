// The durable local journal for events written while PostgreSQL is unreachable. Appends are
// JSON lines, fsync'd before the write resolves. Replay moves the journal aside, inserts its
// events (the database ignores ids it already has, so a replay interrupted by a crash is simply
// run again), then deletes it: every event arrives, and arrives once. An event the database
// refuses outright (not an outage) goes to dead-letter.jsonl with the reason, so one bad row
// can never hold the others back.
import { existsSync, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { fsyncDir, renameWithRetry } from '../fs/atomic-write.js';
import { appendDurably } from '../fs/durable-append.js';
import type { Logger } from '../logger.js';

// A recognition's `event` is the store's row as JSON (sql-db-store.ts, RecognitionRow): a field added
// later, like the access verdict (migration 005) or the appliance id (migration 006), is optional
// there, so a line an older version spooled replays without it (as null). The appliance id is in the
// row when it is spooled: a replay writes the id the event was recorded under, whatever runs it.
export type SpooledEvent =
  { kind: 'recognition'; event: Record<string, unknown> } | { kind: 'camera'; event: Record<string, unknown> };

const PENDING = 'events.jsonl';
const REPLAYING = 'events.replaying.jsonl';
const DEAD_LETTER = 'dead-letter.jsonl';
/** Events per insert during replay: one round trip per 500 rows, a few hundred kB of SQL parameters. */
const REPLAY_BATCH = 500;

export class EventSpool {
  private handle: FileHandle | null = null;
  private pending = 0;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** Opens the spool in `dir`, counting what an earlier run left in it. */
  static async open(dir: string, logger: Logger): Promise<EventSpool> {
    await fs.mkdir(dir, { recursive: true });
    const spool = new EventSpool(dir, logger);
    await spool.cutTornTail();
    for (const file of [PENDING, REPLAYING]) spool.pending += (await spool.readFile(file)).length;
    return spool;
  }

  /** Keeps events the database refused (with why) where an operator can find them; never replayed. */
  async deadLetter(events: SpooledEvent[], reason: string): Promise<void> {
    const handle = await fs.open(path.join(this.dir, DEAD_LETTER), 'a');
    try {
      await appendDurably(handle, events.map((e) => `${JSON.stringify({ ...e, reason })}\n`).join(''));
    } finally {
      await handle.close();
    }
    this.logger.error(
      { events: events.length, reason },
      `event spool: the database refused events; kept in ${DEAD_LETTER}`,
    );
  }

  /** Events waiting for the database. */
  size(): number {
    return this.pending;
  }

  /** Appends events durably (written and fsync'd when this resolves). */
  append(events: SpooledEvent[]): Promise<void> {
    return this.serial(async () => {
      if (!this.handle) {
        const file = path.join(this.dir, PENDING);
        const created = !existsSync(file);
        this.handle = await fs.open(file, 'a');
        if (created) await fsyncDir(this.dir); // the new file's name must survive a power cut too
      }
      // All of it on disk, or nothing (a full disk): never half a line for the next append to join.
      await appendDurably(this.handle, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      this.pending += events.length;
    });
  }

  /**
   * Hands every spooled event to `insert` in batches, then forgets them. When `insert` throws,
   * what was not yet inserted stays spooled for the next replay.
   */
  replay(insert: (batch: SpooledEvent[]) => Promise<void>): Promise<number> {
    // Appends wait for the replay (same chain), so once both files are done the spool is empty.
    return this.serial(async () => {
      const pendingPath = path.join(this.dir, PENDING);
      const replayingPath = path.join(this.dir, REPLAYING);
      let replayed = 0;
      for (;;) {
        // A replay that crashed left REPLAYING behind: it is finished first, then PENDING taken.
        if (!existsSync(replayingPath)) {
          if (!existsSync(pendingPath)) break;
          await this.handle?.close();
          this.handle = null;
          await renameWithRetry(pendingPath, replayingPath);
          await fsyncDir(this.dir);
        }
        const events = await this.readFile(REPLAYING);
        for (let i = 0; i < events.length; i += REPLAY_BATCH) await insert(events.slice(i, i + REPLAY_BATCH));
        await fs.rm(replayingPath);
        await fsyncDir(this.dir);
        replayed += events.length;
      }
      this.pending = 0;
      return replayed;
    });
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      await this.handle?.close();
      this.handle = null;
    });
  }

  // A power cut can leave the last line half-written. It was never acknowledged (its append did
  // not resolve), so it is cut off at open: otherwise the next append would continue that line
  // and an acknowledged event would be lost inside an unreadable one.
  private async cutTornTail(): Promise<void> {
    const file = path.join(this.dir, PENDING);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const keep = bytes.lastIndexOf(0x0a) + 1;
    if (keep === bytes.length) return;
    this.logger.warn(
      { bytes: bytes.length - keep },
      'event spool: dropping a half-written last line (never acknowledged)',
    );
    await fs.truncate(file, keep);
  }

  // Every complete line is an acknowledged event; an unreadable one (damage) is skipped with a warning.
  private async readFile(name: string): Promise<SpooledEvent[]> {
    let text: string;
    try {
      text = await fs.readFile(path.join(this.dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const events: SpooledEvent[] = [];
    for (const [n, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        const parsed = JSON.parse(line) as SpooledEvent;
        if ((parsed.kind === 'recognition' || parsed.kind === 'camera') && typeof parsed.event === 'object')
          events.push(parsed);
        else throw new Error('not a spooled event');
      } catch {
        this.logger.warn({ file: name, line: n + 1 }, 'event spool: skipping an incomplete or unreadable line');
      }
    }
    return events;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
