// The LLD's "DB down -> read-only mode" as one state machine, shared by everything that writes
// through the one database connection (SqlDbStore and the unknown-face records it holds): whether
// the database is usable now, why not, and the probe with backoff that notices its return. It
// knows no SQL: the store gives it the step that makes the database usable (is it writable, are
// the migrations applied) and the work to do once it is (replay the spool).
import { ReadOnlyError, type ReadOnlyReason } from '../errors.js';
import type { Logger } from '../logger.js';
import { isConnectionError, isReadOnlyRefusal } from './sql-client.js';

export interface DbAvailabilitySteps {
  /** Throws unless the database is there and writable; applies what it must first (migrations). */
  ready(): Promise<void>;
  /** Runs each time ready() passed (the spool's replay); a connection error here is an outage again. */
  resumed(): Promise<void>;
}

/** Runs a statement that needs the database, or refuses it (ReadOnlyError) while the database is down. */
export type NeedDb = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export class DbAvailability {
  private up = false;
  private error: string | null = null;
  private readOnlyReason: ReadOnlyReason = 'database unavailable';
  private probeTimer: NodeJS.Timeout | null = null;
  private probeDelay: number;
  private closed = false;
  private readonly availableListeners: (() => void)[] = [];

  constructor(
    private readonly steps: DbAvailabilitySteps,
    private readonly logger: Logger,
    /** Backoff of the reconnect probe: from min doubling to max. */
    private readonly probeMs: { min: number; max: number },
  ) {
    this.probeDelay = probeMs.min;
  }

  get available(): boolean {
    return this.up;
  }

  /** The last outage's or failed start-up step's message; null while the database is usable. */
  get lastError(): string | null {
    return this.error;
  }

  /** Called each time the database becomes usable (at start and after an outage). */
  onAvailable(listener: () => void): void {
    this.availableListeners.push(listener);
  }

  // Refused at once while the database is down; a lost connection, or a server that refuses
  // writes, switches to read-only mode and is reported as ReadOnlyError. A property, so that it can
  // be handed on as it is (the unknown-face records receive it).
  readonly needDb: NeedDb = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (!this.up) throw new ReadOnlyError(what, this.readOnlyReason);
    try {
      return await fn();
    } catch (error) {
      if (isConnectionError(error)) {
        this.wentDown(error);
        throw new ReadOnlyError(what, this.readOnlyReason);
      }
      throw error;
    }
  };

  wentDown(error: unknown): void {
    this.error = error instanceof Error ? error.message : String(error);
    this.readOnlyReason = readOnlyReasonOf(error);
    if (!this.up && this.probeTimer) return;
    if (this.up) this.logger.warn({ err: error }, `${this.readOnlyReason}: read-only mode, events spooled`);
    this.up = false;
    this.scheduleProbe();
  }

  scheduleProbe(): void {
    if (this.closed || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe();
    }, this.probeDelay);
    this.probeTimer.unref();
    this.probeDelay = Math.min(this.probeDelay * 2, this.probeMs.max);
  }

  // Is the server there and writable? If so: writable again, then the resumed work. Resumed work
  // that cannot be done yet does not make the database read-only: only an outage does.
  async probe(): Promise<void> {
    try {
      await this.steps.ready();
    } catch (error) {
      // Not an outage (a failed migration): loud, and retried by the probe.
      if (!isConnectionError(error)) this.logger.error({ err: error }, 'database: start-up step failed');
      this.up = false;
      this.error = error instanceof Error ? error.message : String(error);
      this.readOnlyReason = readOnlyReasonOf(error);
      this.scheduleProbe();
      return;
    }
    const wasDown = !this.up;
    this.up = true;
    this.error = null;
    this.probeDelay = this.probeMs.min;
    if (wasDown) for (const listener of this.availableListeners) listener();
    try {
      await this.steps.resumed();
    } catch (error) {
      if (isConnectionError(error)) this.wentDown(error);
      else {
        this.logger.error({ err: error }, 'database: spool replay failed; retrying');
        this.scheduleProbe();
      }
    }
  }

  /** No probe after this one. */
  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
  }
}

function readOnlyReasonOf(error: unknown): ReadOnlyReason {
  return isReadOnlyRefusal(error) ? 'database refuses writes (read_only_sql_transaction)' : 'database unavailable';
}
