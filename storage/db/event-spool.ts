// The durable local journal for events written while PostgreSQL is unreachable. Appends are
// JSON lines, fsync'd before the write resolves. Replay moves the journal aside, inserts its
// events (the database ignores ids it already has, so a replay interrupted by a crash is simply
// run again), then deletes it: every event arrives, and arrives once.
import { existsSync, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { fsyncDir, renameWithRetry } from '../fs/atomic-write.js';
import type { Logger } from '../logger.js';

export type SpooledEvent =
  | { kind: 'recognition'; event: Record<string, unknown> }
  | { kind: 'camera'; event: Record<string, unknown> };

const PENDING = 'events.jsonl';
const REPLAYING = 'events.replaying.jsonl';
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
    for (const file of [PENDING, REPLAYING]) spool.pending += (await spool.readFile(file)).length;
    return spool;
  }

  /** Events waiting for the database. */
  size(): number {
    return this.pending;
  }

  /** Appends events durably (written and fsync'd when this resolves). */
  append(events: SpooledEvent[]): Promise<void> {
    return this.serial(async () => {
      this.handle ??= await fs.open(path.join(this.dir, PENDING), 'a');
      await this.handle.write(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await this.handle.sync();
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

  // A power cut can leave the last line half-written: it was never acknowledged (its append did
  // not resolve), so it is dropped with a warning; every complete line is kept.
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
        if ((parsed.kind === 'recognition' || parsed.kind === 'camera') && typeof parsed.event === 'object') events.push(parsed);
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
