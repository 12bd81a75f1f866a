// The dispatcher: every message published goes into each output's outbox (outbox.ts, journaled
// and fsync'd before publish() resolves), and one loop per output delivers its outbox oldest first,
// removing what the target acknowledged. While a target is down the loop retries with a backoff
// (doubling from retry.firstMs to retry.maxMs), so nothing is lost while a broker restarts, and
// what was journaled before a crash is delivered after the restart. Delivery is at least once: a
// crash between an acknowledgement and its removal sends that message again, with the same id
// (the idempotency key receivers drop repeats by). A message the receiver refuses for good (a 4xx
// webhook answer) goes to the outbox's dead letter, logged, and the queue moves on.
import path from 'node:path';

import type { Logger } from '../../storage/index.js';
import { validateId } from '../../storage/ids.js';
import type { OutputMessage } from './message.js';
import { Outbox } from './outbox.js';
import { type Output, type OutputKind, PermanentDeliveryError } from './output.js';

export interface RetryOptions {
  /** The first wait after a failed delivery (ms). */
  firstMs: number;
  /** The longest wait: also how late a target that came back may hear from us (ms). */
  maxMs: number;
}

/** 0.5 s, doubling to 5 s: a broker back from a restart gets its backlog within 5 s. */
export const DEFAULT_RETRY: RetryOptions = { firstMs: 500, maxMs: 5_000 };
/** About a day of a busy site's decisions (one a second for 3 hours) per output, a few MB of journal. */
export const DEFAULT_MAX_MESSAGES = 10_000;
/** Messages delivered before their removal is journaled (one fsync for the lot). */
const DELIVERY_BATCH = 50;

export interface OutputsOptions {
  /** The outboxes' root: each output's journal is in <dir>/<name>/. */
  dir: string;
  maxMessages?: number;
  retry?: RetryOptions;
  logger: Logger;
}

/** One output's state, for /health, /metrics and `outputs test`. */
export interface OutputStats {
  name: string;
  kind: OutputKind;
  /** The standing connection (MQTT); null when none is kept (webhooks). */
  connected: boolean | null;
  /** Messages waiting in the outbox. */
  pending: number;
  /** Since start. */
  delivered: number;
  /** Failed delivery attempts since start (each retried). */
  failures: number;
  /** Oldest messages dropped for the outbox's bound since start. */
  dropped: number;
  /** Messages the receiver refused for good since start (kept in the outbox's dead letter). */
  deadLettered: number;
  /** Why the last attempt failed, while the output is failing; null once it delivers again. */
  lastError: string | null;
  /** Messages that could not be journaled in this output's outbox (a full disk): lost to this output. */
  notJournaled: number;
  /** Why the last journaling failed; null once a later message is journaled. */
  journalError: string | null;
  lastDeliveredAt: Date | null;
}

interface Slot {
  output: Output;
  outbox: Outbox;
  stats: Omit<OutputStats, 'name' | 'kind' | 'connected' | 'pending' | 'dropped'>;
  /** Resolves the loop's wait when a message arrives or the dispatcher closes. */
  wake: (() => void) | null;
  loop: Promise<void>;
}

export class Outputs {
  private closing = false;

  private constructor(
    private readonly slots: Slot[],
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
  ) {}

  /** Opens each output's outbox (what an earlier run left is delivered first), starts the outputs and their loops. */
  static async open(outputs: Output[], options: OutputsOptions): Promise<Outputs> {
    const names = new Set<string>();
    for (const output of outputs) {
      validateId('output', output.name);
      // Names become folders: two that differ only in case would share one on Windows.
      const key = output.name.toLowerCase();
      if (names.has(key)) throw new Error(`Expected distinct output names but received "${output.name}" twice`);
      names.add(key);
    }
    const slots: Slot[] = [];
    try {
      for (const output of outputs) {
        const outbox = await Outbox.open(path.join(options.dir, output.name), {
          name: output.name,
          maxMessages: options.maxMessages ?? DEFAULT_MAX_MESSAGES,
          logger: options.logger,
        });
        slots.push({
          output,
          outbox,
          stats: {
            delivered: 0,
            failures: 0,
            deadLettered: 0,
            lastError: null,
            notJournaled: 0,
            journalError: null,
            lastDeliveredAt: null,
          },
          wake: null,
          loop: Promise.resolve(),
        });
        if (outbox.size() > 0)
          options.logger.info({ output: output.name, pending: outbox.size() }, 'output: delivering what was left');
      }
      for (const slot of slots) await slot.output.start();
    } catch (error) {
      for (const slot of slots) {
        await slot.output.close().catch(() => undefined);
        await slot.outbox.close().catch(() => undefined);
      }
      throw error;
    }
    const dispatcher = new Outputs(slots, options.retry ?? DEFAULT_RETRY, options.logger);
    for (const slot of slots) slot.loop = dispatcher.run(slot);
    return dispatcher;
  }

  /** True when at least one output is configured. */
  get any(): boolean {
    return this.slots.length > 0;
  }

  /**
   * Journals the message in every output's outbox (durable when this resolves) and wakes their
   * loops. Rejects when an outbox cannot write it (a full disk): the caller logs it; the event
   * itself is in the event log.
   */
  async publish(message: OutputMessage): Promise<void> {
    if (this.closing)
      throw new Error(`Expected a running dispatcher but received a message after close (${message.id})`);
    const results = await Promise.allSettled(this.slots.map((slot) => slot.outbox.append([message])));
    for (const [i, slot] of this.slots.entries()) {
      const result = results[i];
      if (result?.status === 'rejected') {
        slot.stats.notJournaled++;
        slot.stats.journalError = result.reason instanceof Error ? result.reason.message : String(result.reason);
      } else slot.stats.journalError = null;
      slot.wake?.();
    }
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`${this.slots[i]?.output.name}: ${String(r.reason)}`] : [],
    );
    if (failed.length > 0) throw new Error(`output: message ${message.id} not journaled for ${failed.join('; ')}`);
  }

  stats(): OutputStats[] {
    return this.slots.map((s) => ({
      name: s.output.name,
      kind: s.output.kind,
      connected: s.output.connected(),
      pending: s.outbox.size(),
      dropped: s.outbox.dropped(),
      ...s.stats,
    }));
  }

  /** Stops the loops (a delivery in flight finishes), then closes the outputs and the outboxes: what is pending stays journaled. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const slot of this.slots) slot.wake?.();
    await Promise.all(this.slots.map((s) => s.loop));
    for (const slot of this.slots) {
      await slot.output
        .close()
        .catch((error: unknown) => this.logger.warn({ err: error, output: slot.output.name }, 'output: close failed'));
      await slot.outbox.close();
    }
  }

  private async run(slot: Slot): Promise<void> {
    const { output, outbox, stats } = slot;
    let wait = this.retry.firstMs;
    while (!this.closing) {
      const batch = outbox.peek(DELIVERY_BATCH);
      if (batch.length === 0) {
        await this.pause(slot, null);
        continue;
      }
      const delivered: string[] = [];
      let failure: Error | null = null;
      for (const message of batch) {
        if (this.closing) break;
        try {
          await output.deliver(message);
          delivered.push(message.id);
        } catch (error) {
          if (!(error instanceof PermanentDeliveryError)) {
            failure = error instanceof Error ? error : new Error(String(error));
            break;
          }
          // Refused for good: kept aside, and the queue moves on (the delivered so far are forgotten first, in order).
          await this.forget(slot, delivered.splice(0));
          this.logger.error(
            { output: output.name, message: message.id, reason: error.message },
            'output: the receiver refused a message for good; kept in its dead letter',
          );
          try {
            await outbox.deadLetter([message], error.message);
            stats.deadLettered++;
          } catch (writeError) {
            failure = writeError instanceof Error ? writeError : new Error(String(writeError));
            break;
          }
        }
      }
      await this.forget(slot, delivered);
      if (delivered.length > 0) {
        if (stats.lastError !== null)
          this.logger.info({ output: output.name, pending: outbox.size() }, 'output: delivering again');
        stats.lastError = null;
        stats.lastDeliveredAt = new Date();
        wait = this.retry.firstMs;
      }
      if (failure === null) continue;
      const reason = failure.message;
      stats.failures++;
      // One line when an output starts failing, not one per retry.
      if (stats.lastError === null)
        this.logger.warn(
          { output: output.name, pending: outbox.size(), reason },
          'output: delivery failing; the outbox keeps messages and retries',
        );
      stats.lastError = reason;
      await this.pause(slot, wait);
      wait = Math.min(wait * 2, this.retry.maxMs);
    }
  }

  /** Removes delivered messages from the outbox; a failed removal only means they are sent again. */
  private async forget(slot: Slot, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    slot.stats.delivered += ids.length;
    await slot.outbox
      .remove(ids)
      .catch((error: unknown) =>
        this.logger.warn(
          { err: error, output: slot.output.name },
          'output: delivered messages not removed from the outbox; they will be sent again',
        ),
      );
  }

  /** Waits for a new message (ms null) or a retry's time, either cut short by close(). */
  private pause(slot: Slot, ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        slot.wake = null;
        resolve();
      };
      if (this.closing) return resolve();
      // A retry's wait is cut short only by close(): new messages must not hammer a failing target.
      slot.wake = ms === null ? done : () => (this.closing ? done() : undefined);
      if (ms !== null) timer = setTimeout(done, ms);
    });
  }
}
