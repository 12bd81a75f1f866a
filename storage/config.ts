// What the storage layer needs to open: validated once (zod) into a typed object. The service's
// configuration file and environment overrides (DATABASE_URL, REDIS_URL, data dir) are mapped
// onto this by the config loader; storage itself reads no environment variables.
import path from 'node:path';

import { z } from 'zod';

import { quoteReceived } from './checks.js';
import { idProblem } from './ids.js';
import { redactUrl } from './redact.js';

/**
 * The health TTLs' one source (the appliance's configuration takes its defaults from here).
 * Camera, 30 s: longer than one stall and its reconnect (src/camera/rtsp-source.ts: a 5 s watchdog, a
 * 1 s backoff, up to 10 s for the first frame), so one hiccup does not read offline (LLD: TTL expiry
 * -> offline).
 */
export const DEFAULT_CAMERA_TTL_SECONDS = 30;
/** Worker, 20 s: the heartbeat runs every 5 s, so three misses. */
export const DEFAULT_WORKER_TTL_SECONDS = 20;

/**
 * The appliance id of a site with one appliance (issue 18). A fixed name, not one derived from the
 * host name: the id is written into every event for good, and a host renamed, re-imaged or run in a
 * container (whose host name is its container id, new at every re-creation) would split one
 * appliance's history under two ids. With this id the health keys are the LLD's own names
 * (redis-cache-store.ts); a site with several appliances names each one.
 */
export const DEFAULT_APPLIANCE_ID = 'appliance-1';

export const storageConfigSchema = z.object({
  /** Which appliance this is: stamped by the store on every event and review action it writes, and a part of its health keys. */
  applianceId: z
    .string()
    .superRefine((value, ctx) => {
      const problem = idProblem('appliance', value);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(DEFAULT_APPLIANCE_ID),
  /** The data root: images/, embeddings/, spool/, and PGlite's db/ when no databaseUrl is set. */
  dataRoot: z.string().min(1, 'the data root must be a folder path'),
  /** postgres://... of a PostgreSQL server; absent: embedded PGlite under the data root. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
    .optional(),
  /** redis://... ; absent: health is kept in memory only. */
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
    .optional(),
  /** A camera with no frame for this long reads offline (LLD: TTL expiry -> offline). */
  cameraTtlSeconds: z.number().int().min(1).max(3600).default(DEFAULT_CAMERA_TTL_SECONDS),
  /** A worker with no heartbeat for this long is presumed dead. */
  workerTtlSeconds: z.number().int().min(1).max(3600).default(DEFAULT_WORKER_TTL_SECONDS),
});

export type StorageConfig = z.output<typeof storageConfigSchema>;
export type StorageConfigInput = z.input<typeof storageConfigSchema>;

/** Parses and validates; an error names the key, what was expected and what was received. */
export function parseStorageConfig(input: unknown): StorageConfig {
  const result = storageConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      // Both URLs may carry a password: what was received is shown through the one redaction rule.
      // A message that already says what it received (the id rule's) is not told twice.
      const received =
        'input' in i && !/\breceived\b/.test(i.message)
          ? ` (received ${quoteReceived(typeof i.input === 'string' ? redactUrl(i.input) : i.input)})`
          : '';
      return `storage.${i.path.join('.') || '(root)'}: ${i.message}${received}`;
    });
    throw new Error(`Invalid storage configuration:\n${lines.join('\n')}`);
  }
  return { ...result.data, dataRoot: path.resolve(result.data.dataRoot) };
}

/** Where each part lives under the data root (the LLD's layout plus the spool, the outboxes and PGlite). */
export function dataPaths(dataRoot: string) {
  return {
    images: dataRoot,
    embeddings: path.join(dataRoot, 'embeddings'),
    spool: path.join(dataRoot, 'spool'),
    /** The outputs' outboxes (src/outputs/), one folder per output. */
    outbox: path.join(dataRoot, 'outbox'),
    pglite: path.join(dataRoot, 'db'),
  };
}
