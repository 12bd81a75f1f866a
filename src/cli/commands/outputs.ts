// `facegate outputs test`: sends one test message to every configured output (config `outputs`)
// and says what happened to each: delivered (and how long it took) or why not. It talks to the
// brokers and receivers directly, not through the outboxes, so it runs beside `facegate serve`
// and leaves nothing behind to be delivered later.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { silentLogger } from '../../../storage/logger.js';
import { loadConfig } from '../../config/config.js';
import { createOutputs } from '../../outputs/index.js';
import type { TestMessage } from '../../outputs/message.js';
import type { Output } from '../../outputs/output.js';
import { describeUrl } from '../../outputs/webhook-output.js';
import { UsageError } from '../usage-error.js';

export const outputsUsage = `facegate outputs test [--json]
  Sends a test message to every configured output (MQTT brokers on <topicPrefix>/test, webhooks
  as a signed POST) and reports, per output, delivered in how many ms or why not. Exits 1 when
  any output failed.`;

/** How long an output may take to connect before its delivery counts as failed, on top of its own timeout. */
const CONNECT_GRACE_MS = 5_000;
const RETRY_MS = 200;

interface Result {
  name: string;
  kind: string;
  target: string;
  delivered: boolean;
  ms: number;
  error: string | null;
}

/** Delivers `message`, retrying while the output connects (an MQTT client's first CONNACK), until its deadline. */
async function tryOutput(output: Output, message: TestMessage, timeoutMs: number): Promise<Omit<Result, 'target'>> {
  const started = performance.now();
  const deadline = started + timeoutMs + CONNECT_GRACE_MS;
  let error: string | null = null;
  try {
    await output.start();
    for (;;) {
      try {
        await output.deliver(message);
        return {
          name: output.name,
          kind: output.kind,
          delivered: true,
          ms: Math.round(performance.now() - started),
          error: null,
        };
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
        // A connection still coming up is worth waiting for; any other refusal is the answer.
        if (output.connected() !== false || performance.now() + RETRY_MS > deadline) break;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    await output.close().catch(() => undefined);
  }
  return { name: output.name, kind: output.kind, delivered: false, ms: Math.round(performance.now() - started), error };
}

export async function outputsCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1 || positionals[0] !== 'test')
    throw new UsageError(`Expected "outputs test" but received "outputs ${positionals.join(' ')}"`);
  const config = await loadConfig();
  const spec = config.outputs;
  const targets = [
    ...spec.mqtt.map((m) => ({ ...m, kind: 'mqtt' })),
    ...spec.webhooks.map((w) => ({ ...w, kind: 'webhook' })),
  ];
  if (targets.length === 0) {
    out(
      { outputs: [] },
      `no outputs configured (${config.source ?? 'defaults'}: outputs.mqtt and outputs.webhooks are empty)`,
    );
    return 0;
  }
  const outputs = createOutputs(
    spec,
    config.cameras.filter((c) => c.enabled).map((c) => c.id),
    silentLogger,
    { probe: true },
  );
  const message: TestMessage = {
    type: 'test',
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    text: `facegate outputs test from ${spec.nodeId}`,
  };
  const results: Result[] = await Promise.all(
    outputs.map(async (output, i) => ({
      ...(await tryOutput(output, message, targets[i]?.timeoutMs ?? 5_000)),
      target: describeUrl(targets[i]?.url ?? ''),
    })),
  );
  out(
    { message, outputs: results },
    results
      .map(
        (r) =>
          `${r.kind} ${r.name} (${r.target}): ${r.delivered ? `delivered in ${r.ms} ms` : `NOT delivered: ${r.error ?? 'no answer'}`}`,
      )
      .join('\n'),
  );
  return results.every((r) => r.delivered) ? 0 : 1;
}
