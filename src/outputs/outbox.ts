// One output's outbox (an MQTT broker, a webhook URL): every message is journaled, fsync'd, before
// publish() resolves, and forgotten once the target acknowledged it, so a restart, a crash or a
// power cut loses nothing that was accepted. The journal is one append-only JSON-lines file,
// outbox.jsonl, read in order at open:
//   {"message": {...}}                      a message to deliver;
//   {"done": ["id", ...], "why": "..."}     ids forgotten since (delivered, dead-lettered, dropped).
// One file rather than a messages file and a done file: the order between a message and its
// removal is the file's order, so a replay rebuilds exactly what was in memory, and compaction
// (rewriting the file with only the pending messages, atomically) is one rename with no moment
// where the two files disagree. A half-written last line (a power cut during an append that never
// resolved) is cut at open; an unreadable line elsewhere (damage) is skipped with a warning.
// The outbox is bounded: beyond maxMessages the oldest are dropped (journaled as done, counted,
// and logged once per burst), so an output that is down for days cannot fill the disk.
import { existsSync, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { describeTyped } from '../../storage/checks.js';
import { appendDurably, fsyncDir, type Logger, writeFileAtomic } from '../../storage/index.js';
import { MESSAGE_TYPES, type OutputMessage } from './message.js';

export interface OutboxOptions {
  /** The output's name, for log lines. */
  name: string;
  /** The most messages kept; beyond it the oldest are dropped, counted and logged (a warn line once per drop burst, not per message). */
  maxMessages: number;
  logger: Logger;
}

const JOURNAL = 'outbox.jsonl';
const DEAD_LETTER = 'dead-letter.jsonl';
/**
 * Compaction runs once this many forgotten messages are in the journal and they outnumber the
 * pending ones: the file stays under about twice the pending messages plus this many, and a
 * rewrite (one per 1000 deliveries at the least) costs little next to the 20 fsyncs of them.
 */
export const COMPACT_AFTER = 1000;
/** Unreadable lines named in the warning at open; the count says how many more. */
const LINES_NAMED = 10;

type DoneReason = 'delivered' | 'dead-lettered' | 'dropped';
type JournalLine = { message: OutputMessage } | { done: string[]; why?: DoneReason };

export class Outbox {
  /** Pending messages by id; a Map keeps insertion order, so iteration is oldest first. */
  private readonly pending = new Map<string, OutputMessage>();
  /** Message lines in the journal whose id a later done line forgot: what compaction reclaims. */
  private forgotten = 0;
  private droppedCount = 0;
  /** Messages dropped in the current burst (one warn line at its start, an info line at its end). */
  private burst = 0;
  private handle: FileHandle | null = null;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly journal: string;

  private constructor(
    private readonly dir: string,
    private readonly options: OutboxOptions,
  ) {
    this.journal = path.join(dir, JOURNAL);
  }

  /** Opens (creating) the outbox in `dir`, reading what an earlier run left: pending messages, in order. */
  static async open(dir: string, options: OutboxOptions): Promise<Outbox> {
    if (!Number.isSafeInteger(options.maxMessages) || options.maxMessages < 1)
      throw new TypeError(
        `Expected a positive integer for the outbox's maxMessages but received ${describeTyped(options.maxMessages)}`,
      );
    await fs.mkdir(dir, { recursive: true });
    const outbox = new Outbox(dir, options);
    await outbox.removeLeftoverTemps();
    await outbox.cutTornTail();
    await outbox.replay();
    // A smaller bound than the last run's (or a crash mid-append) can leave too many: the same rule applies.
    const over = outbox.pending.size - options.maxMessages;
    if (over > 0) await outbox.writeLines(outbox.dropOldest(over));
    return outbox;
  }

  /**
   * Appends durably (written and fsync'd when this resolves); drops the oldest beyond maxMessages.
   * A message whose id is already pending is ignored (the first is kept, and delivered once); an
   * id the outbox delivered earlier is not remembered and would be delivered again (receivers
   * drop repeated ids). Rejects, changing nothing, when the write fails (a full disk).
   */
  append(messages: OutputMessage[]): Promise<void> {
    return this.serial(async () => {
      const fresh = new Map<string, OutputMessage>();
      for (const m of messages) if (!this.pending.has(m.id) && !fresh.has(m.id)) fresh.set(m.id, m);
      if (fresh.size === 0) return;
      let incoming = [...fresh.values()];
      const lines: JournalLine[] = [];
      const over = this.pending.size + incoming.length - this.options.maxMessages;
      let droppedIncoming = 0;
      let droppedPending: string[] = [];
      if (over > 0) {
        // More new messages than the bound itself: the oldest of them are never written.
        droppedIncoming = Math.max(0, incoming.length - this.options.maxMessages);
        incoming = incoming.slice(droppedIncoming);
        droppedPending = [...this.pending.keys()].slice(0, over - droppedIncoming);
        if (droppedPending.length > 0) lines.push({ done: droppedPending, why: 'dropped' });
      }
      for (const message of incoming) lines.push({ message });
      await this.writeLines(lines);
      for (const id of droppedPending) this.pending.delete(id);
      this.forgotten += droppedPending.length;
      for (const message of incoming) this.pending.set(message.id, message);
      if (over > 0) this.countDropped(droppedPending.length + droppedIncoming);
      else this.endBurst();
      await this.compactIfWorthIt();
    });
  }

  /** The oldest pending messages, up to `limit`, oldest first (in memory, no I/O). */
  peek(limit: number): OutputMessage[] {
    const out: OutputMessage[] = [];
    for (const message of this.pending.values()) {
      if (out.length >= limit) break;
      out.push(message);
    }
    return out;
  }

  /**
   * Forgets delivered messages durably (fsync'd when this resolves). Unknown ids are ignored.
   * When the journal cannot be written (a full disk) the messages are forgotten in memory all the
   * same, so a delivered message is not sent again and again, and this rejects: after a restart
   * they are delivered once more (at least once).
   */
  remove(ids: string[]): Promise<void> {
    return this.serial(() => this.forget(ids, 'delivered'));
  }

  /**
   * Moves messages the receiver refused for good to dead-letter.jsonl (each with the reason, fsync'd)
   * and forgets them. The dispatcher logs the refusal. When the dead letter cannot be written the
   * messages stay pending and this rejects; a crash between the two writes dead-letters them again.
   */
  deadLetter(messages: OutputMessage[], reason: string): Promise<void> {
    return this.serial(async () => {
      if (messages.length === 0) return;
      const file = path.join(this.dir, DEAD_LETTER);
      const created = !existsSync(file);
      const handle = await fs.open(file, 'a');
      try {
        await appendDurably(
          handle,
          messages.map((message) => `${JSON.stringify({ message, reason, at: new Date().toISOString() })}\n`).join(''),
        );
      } finally {
        await handle.close();
      }
      if (created) await fsyncDir(this.dir);
      await this.forget(
        messages.map((m) => m.id),
        'dead-lettered',
      );
    });
  }

  /** Pending messages now. */
  size(): number {
    return this.pending.size;
  }

  /** Messages dropped for the bound since open (a counter for /metrics). */
  dropped(): number {
    return this.droppedCount;
  }

  /** Closes the journal; what is pending stays in it for the next open. Later calls reject. */
  async close(): Promise<void> {
    await this.serial(async () => {
      this.endBurst();
      await this.handle?.close();
      this.handle = null;
    });
    this.closed = true;
  }

  private async forget(ids: string[], why: DoneReason): Promise<void> {
    const known = [...new Set(ids)].filter((id) => this.pending.has(id));
    if (known.length === 0) return;
    try {
      await this.writeLines([{ done: known, why }]);
      this.forgotten += known.length;
    } finally {
      for (const id of known) this.pending.delete(id);
    }
    if (this.pending.size < this.options.maxMessages) this.endBurst();
    await this.compactIfWorthIt();
  }

  /** Drops the `count` oldest pending messages (in memory) and returns the journal line that says so. */
  private dropOldest(count: number): JournalLine[] {
    const ids = [...this.pending.keys()].slice(0, count);
    for (const id of ids) this.pending.delete(id);
    this.forgotten += ids.length;
    this.countDropped(ids.length);
    return [{ done: ids, why: 'dropped' }];
  }

  private countDropped(count: number): void {
    if (count === 0) return;
    this.droppedCount += count;
    if (this.burst === 0)
      this.options.logger.warn(
        { output: this.options.name, dropped: count, maxMessages: this.options.maxMessages },
        `outbox ${this.options.name}: full (${this.options.maxMessages} messages); dropping the oldest until the output catches up`,
      );
    this.burst += count;
  }

  private endBurst(): void {
    if (this.burst === 0) return;
    this.options.logger.info(
      { output: this.options.name, dropped: this.burst, maxMessages: this.options.maxMessages },
      `outbox ${this.options.name}: ${this.burst} oldest messages were dropped while it was full`,
    );
    this.burst = 0;
  }

  /** Appends lines to the journal and fsyncs; a failed write is cut back so no half line remains. */
  private async writeLines(lines: JournalLine[]): Promise<void> {
    if (lines.length === 0) return;
    if (!this.handle) {
      const created = !existsSync(this.journal);
      this.handle = await fs.open(this.journal, 'a+');
      if (created) await fsyncDir(this.dir); // the new file's name must survive a power cut too
    }
    await appendDurably(this.handle, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  }

  // The journal is rewritten once forgotten messages dominate it: atomically (a temporary file,
  // fsync'd, renamed over the journal), so a crash leaves the old journal or the new one, both
  // whole. A failure (a full disk) leaves the old journal in use and is tried again later.
  private async compactIfWorthIt(): Promise<void> {
    if (this.forgotten < COMPACT_AFTER || this.forgotten <= this.pending.size) return;
    const text = [...this.pending.values()].map((message) => `${JSON.stringify({ message })}\n`).join('');
    // Windows cannot rename over a file held open.
    await this.handle?.close();
    this.handle = null;
    try {
      await writeFileAtomic(this.journal, text);
      this.forgotten = 0;
    } catch (error) {
      this.options.logger.warn(
        { err: error, output: this.options.name },
        `outbox ${this.options.name}: could not compact ${JOURNAL}; it keeps growing until a later try succeeds`,
      );
    }
  }

  // A compaction a crash cut short leaves its temporary file (writeFileAtomic's ".outbox.jsonl.*.tmp").
  private async removeLeftoverTemps(): Promise<void> {
    for (const name of await fs.readdir(this.dir))
      if (name.startsWith(`.${JOURNAL}.`) && name.endsWith('.tmp'))
        await fs.rm(path.join(this.dir, name), { force: true });
  }

  // A power cut can leave the last line half-written. Its write never resolved (never acknowledged),
  // so it is cut off at open: otherwise the next append would continue that line and an
  // acknowledged message would be lost inside an unreadable one.
  private async cutTornTail(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.journal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const keep = bytes.lastIndexOf(0x0a) + 1;
    if (keep === bytes.length) return;
    this.options.logger.warn(
      { output: this.options.name, bytes: bytes.length - keep },
      `outbox ${this.options.name}: dropping a half-written last line of ${JOURNAL} (never acknowledged)`,
    );
    await fs.truncate(this.journal, keep);
  }

  // Every complete line was acknowledged; replayed in order, they rebuild the pending messages.
  private async replay(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.journal, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const unreadable: number[] = [];
    let messageLines = 0;
    for (const [n, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      const parsed = parseLine(line);
      if (parsed === null) unreadable.push(n + 1);
      else if ('message' in parsed) {
        messageLines++;
        if (!this.pending.has(parsed.message.id)) this.pending.set(parsed.message.id, parsed.message);
      } else for (const id of parsed.done) this.pending.delete(id);
    }
    this.forgotten = messageLines - this.pending.size;
    if (unreadable.length > 0)
      this.options.logger.warn(
        {
          output: this.options.name,
          unreadable: unreadable.length,
          lines: unreadable.slice(0, LINES_NAMED),
        },
        `outbox ${this.options.name}: skipping ${unreadable.length} unreadable line(s) of ${JOURNAL} (damaged)`,
      );
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(
        new Error(`Expected an open outbox (${this.options.name}) but received a call after close`),
      );
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** A journal line, or null when it is not one (damaged, or not JSON). */
function parseLine(line: string): JournalLine | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  if ('message' in parsed) {
    const m = parsed.message as Partial<OutputMessage> | null;
    const ok =
      typeof m === 'object' &&
      m !== null &&
      typeof m.id === 'string' &&
      (MESSAGE_TYPES as readonly unknown[]).includes(m.type);
    return ok ? { message: m as OutputMessage } : null;
  }
  if ('done' in parsed && Array.isArray(parsed.done) && parsed.done.every((id) => typeof id === 'string'))
    return { done: parsed.done };
  return null;
}
