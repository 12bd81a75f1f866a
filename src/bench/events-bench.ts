// `facegate bench events`: recognition events per second into the real PostgreSQL, one insert per
// event (how a naive pipeline writes) beside batched inserts (one statement per batch), in the
// same run, in a scratch schema dropped afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { RecognitionEvent } from '../../storage/db/db-store.js';
import { dropPostgresSchema, openDbStore } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';

export interface EventsBenchOptions {
  databaseUrl: string;
  /** Events per mode. */
  n: number;
  batch: number;
  progress?: (message: string) => void;
}

export interface EventsBenchReport {
  n: number;
  batch: number;
  oneByOne: { seconds: number; eventsPerSecond: number };
  batched: { seconds: number; eventsPerSecond: number };
  speedup: number;
}

function events(n: number, offsetMs: number): RecognitionEvent[] {
  const start = Date.now() - offsetMs;
  return Array.from({ length: n }, (_, i) => ({
    timestamp: new Date(start + i),
    cameraId: `cam_${i % 4}`,
    matchedUserId: i % 3 === 0 ? null : `U${i % 50}`,
    confidence: 0.5 + (i % 50) / 100,
    trackId: `t${i}`,
    modelId: 'bench',
    threshold: 0.45,
  }));
}

export async function runEventsBench(options: EventsBenchOptions): Promise<EventsBenchReport> {
  const progress = options.progress ?? (() => {});
  const schema = `fgbench_${process.pid}_${Date.now()}`;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-events-'));
  const db = await openDbStore({
    databaseUrl: options.databaseUrl,
    schema,
    pgliteDir: path.join(scratch, 'pglite'),
    spoolDir: path.join(scratch, 'spool'),
    logger: silentLogger,
  });
  try {
    if (!db.health().available) throw new Error(`cannot reach PostgreSQL: ${db.health().lastError ?? 'unknown error'}`);
    await db.recordRecognitions(events(100, 1e7)); // warm-up: connections, plans

    progress(`one by one: ${options.n} events`);
    const single = events(options.n, 2e7);
    let t = performance.now();
    for (const e of single) await db.recordRecognition(e);
    const oneByOne = (performance.now() - t) / 1000;

    progress(`batched by ${options.batch}: ${options.n} events`);
    const batched = events(options.n, 3e7);
    t = performance.now();
    for (let i = 0; i < batched.length; i += options.batch)
      await db.recordRecognitions(batched.slice(i, i + options.batch));
    const batchSeconds = (performance.now() - t) / 1000;

    return {
      n: options.n,
      batch: options.batch,
      oneByOne: { seconds: oneByOne, eventsPerSecond: options.n / oneByOne },
      batched: { seconds: batchSeconds, eventsPerSecond: options.n / batchSeconds },
      speedup: oneByOne / batchSeconds,
    };
  } finally {
    await db.close();
    await dropPostgresSchema(options.databaseUrl, schema);
    await rm(scratch, { recursive: true, force: true });
  }
}

export function formatEventsBench(r: EventsBenchReport): string {
  return [
    `event inserts into PostgreSQL: ${r.n} recognition events per mode`,
    `one by one        ${r.oneByOne.eventsPerSecond.toFixed(0).padStart(8)} events/s  (${r.oneByOne.seconds.toFixed(2)} s)`,
    `batched by ${String(r.batch).padEnd(6)} ${r.batched.eventsPerSecond.toFixed(0).padStart(8)} events/s  (${r.batched.seconds.toFixed(2)} s)`,
    `speed-up          ${r.speedup.toFixed(1)}x`,
  ].join('\n');
}
