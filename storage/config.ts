// What the storage layer needs to open: validated once (zod) into a typed object. The service's
// configuration file and environment overrides (DATABASE_URL, REDIS_URL, data dir) are mapped
// onto this by the config loader; storage itself reads no environment variables.
import path from 'node:path';

import { z } from 'zod';

import { quoteReceived } from './db/row-checks.js';
import { redactUrl } from './redact.js';

export const storageConfigSchema = z.object({
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
  /** A camera with no frame for this long reads offline (LLD: TTL expiry -> offline). 30 s: ten missed 3 fps frames and a reconnect attempt. */
  cameraTtlSeconds: z.number().int().min(1).max(3600).default(30),
  /** A worker with no heartbeat for this long is presumed dead. The heartbeat runs every 5 s, so 20 s allows three misses. */
  workerTtlSeconds: z.number().int().min(1).max(3600).default(20),
});

export type StorageConfig = z.output<typeof storageConfigSchema>;
export type StorageConfigInput = z.input<typeof storageConfigSchema>;

/** Parses and validates; an error names the key, what was expected and what was received. */
export function parseStorageConfig(input: unknown): StorageConfig {
  const result = storageConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      // Both URLs may carry a password: what was received is shown through the one redaction rule.
      const received = 'input' in i ? ` (received ${quoteReceived(typeof i.input === 'string' ? redactUrl(i.input) : i.input)})` : '';
      return `storage.${i.path.join('.') || '(root)'}: ${i.message}${received}`;
    });
    throw new Error(`Invalid storage configuration:\n${lines.join('\n')}`);
  }
  return { ...result.data, dataRoot: path.resolve(result.data.dataRoot) };
}

/** Where each part lives under the data root (the LLD's layout plus the spool and PGlite). */
export function dataPaths(dataRoot: string) {
  return {
    images: dataRoot,
    embeddings: path.join(dataRoot, 'embeddings'),
    spool: path.join(dataRoot, 'spool'),
    pglite: path.join(dataRoot, 'db'),
  };
}
