// A webhook receiver's outage through the dispatcher (src/outputs/outputs.ts): it answers 500 for
// a while, then takes the requests and never answers (each times out), then answers 200. Every
// recognition published during the bad period is delivered afterwards, oldest first, every
// request the receiver saw verifies, and the ones it saw more than once are told apart by id.
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { afterEach, expect, it } from 'vitest';

import type { RecognitionMessage } from '../../src/outputs/message.js';
import { Outputs } from '../../src/outputs/outputs.js';
import { verifySignature } from '../../src/outputs/signature.js';
import { WebhookOutput } from '../../src/outputs/webhook-output.js';
import { silentLogger } from '../../storage/logger.js';

const SECRET = 'outage-test-secret-0123456789';
const MESSAGES = 30;

type Mode = 'error' | 'hang' | 'ok';

interface Seen {
  id: string | null;
  verified: boolean;
  answered: number | 'hang';
}

// Run in order: the receiver first, so that a request it holds ends and the dispatcher can close.
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step();
});

function recognition(n: number): RecognitionMessage {
  return {
    type: 'recognition',
    applianceId: 'appliance-1',
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    cameraId: 'front_door',
    matchedUserId: n % 3 === 0 ? null : `user-${n}`,
    userName: n % 3 === 0 ? null : `Person ${n}`,
    isUnknown: n % 3 === 0,
    confidence: 0.8,
    trackId: `track-${n}`,
    modelId: 'arcface-r100',
    threshold: 0.45,
    access: null,
    cropUrl: null,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Expected ${what} within ${timeoutMs} ms but it did not happen`);
    await sleep(20);
  }
}

it('delivers every message published during 500s and timeouts once the receiver answers again', async () => {
  let mode: Mode = 'error';
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const result = verifySignature({ secret: SECRET, body, headers: request.headers, nowMs: Date.now() });
      const answered = mode === 'hang' ? 'hang' : mode === 'error' ? 500 : 200;
      seen.push({ id: result.ok ? result.id : null, verified: result.ok, answered });
      if (answered === 'hang') return;
      response.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-webhook-outage-'));

  const output = new WebhookOutput({
    name: 'receiver',
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    secret: SECRET,
    timeoutMs: 300,
    logger: silentLogger,
  });
  const outputs = await Outputs.open([output], {
    dir,
    maxMessages: 1000,
    logger: silentLogger,
    retry: { firstMs: 50, maxMs: 400 },
  });
  cleanup.push(
    () => outputs.close(),
    () => fs.rm(dir, { recursive: true, force: true }),
  );

  const published: string[] = [];
  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const message = recognition(published.length);
      published.push(message.id);
      await outputs.publish(message);
      await sleep(25);
    }
  };

  // The receiver fails with 500s: messages queue, the dispatcher retries.
  await publish(MESSAGES / 2);
  await until('a few 500 answers', () => seen.filter((s) => s.answered === 500).length >= 4);
  // Then it takes requests and never answers: each times out after 300 ms and is retried.
  mode = 'hang';
  await publish(MESSAGES / 2);
  await until('a few timeouts', () => seen.filter((s) => s.answered === 'hang').length >= 3);
  expect(outputs.stats()[0]!.pending).toBe(MESSAGES);
  expect(outputs.stats()[0]!.lastError).toMatch(/no answer within 300 ms/);

  // Back: everything arrives.
  mode = 'ok';
  await until('the outbox to empty', () => outputs.stats()[0]!.pending === 0);

  expect(seen.every((s) => s.verified)).toBe(true);
  const accepted = seen.filter((s) => s.answered === 200).map((s) => s.id);
  // Each accepted once, oldest first (the receiver's 200 is the acknowledgement).
  expect(accepted).toEqual(published);
  // The receiver saw some ids more than once (refused, or taken and never answered, then retried):
  // the id is how it knows; dropping repeats leaves exactly the messages published.
  const counts = new Map<string | null, number>();
  for (const s of seen) counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
  expect([...counts.values()].some((n) => n > 1)).toBe(true);
  expect([...counts.keys()].sort()).toEqual([...published].sort());
  // The requests that timed out reached the receiver: had it handled them, their retries are the duplicates.
  for (const s of seen.filter((x) => x.answered === 'hang')) expect(counts.get(s.id)).toBeGreaterThan(1);

  const stats = outputs.stats()[0]!;
  expect(stats).toMatchObject({ delivered: MESSAGES, deadLettered: 0, lastError: null, pending: 0 });
  expect(stats.failures).toBeGreaterThanOrEqual(7);
});
