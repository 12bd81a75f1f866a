// One configured output (an MQTT broker, a webhook URL): how a message reaches it. The outbox
// (outbox.ts) keeps what is not yet delivered; the dispatcher (outputs.ts) calls deliver() one
// message at a time, oldest first, and retries with backoff while it throws.
import type { OutputMessage } from './message.js';

export type OutputKind = 'mqtt' | 'webhook';

export interface Output {
  /** The configured name: unique, a safe folder name (the outbox lives in outbox/<name>/). */
  readonly name: string;
  readonly kind: OutputKind;
  /** Starts connecting; never throws for an unreachable target (delivery retries). */
  start(): Promise<void>;
  /**
   * Delivers one message and resolves when the target acknowledged it (MQTT: PUBACK for each of
   * its topics; webhook: a 2xx). Throws otherwise; a PermanentDeliveryError when retrying cannot
   * help (the receiver refused this message), which the dispatcher dead-letters.
   */
  deliver(message: OutputMessage): Promise<void>;
  /** true/false: the standing connection's state (MQTT); null: none is kept (webhook). */
  connected(): boolean | null;
  close(): Promise<void>;
}

/** The receiver refused this message for good (a 4xx other than 408 and 429): retrying cannot help. */
export class PermanentDeliveryError extends Error {
  override name = 'PermanentDeliveryError';
}
