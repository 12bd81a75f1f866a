// Plain SQL migrations (storage/migrations/NNN_name.sql), applied in order, each in its own
// transaction, each recorded in schema_migrations, so running them again changes nothing.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { SqlClient } from './sql-client.js';

const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;
// Any constant shared by all facegate processes: two appliances starting at once on one
// server take turns instead of racing to create the same tables.
const MIGRATION_LOCK = 7_215_001;

/** storage/migrations, found from this module both as source (storage/db) and compiled (dist/storage/db). */
export function migrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'storage', 'migrations');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('facegate: cannot find storage/migrations beside the installed code');
    dir = parent;
  }
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function readMigrations(dir = migrationsDir()): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => FILE_PATTERN.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file,
      sql: await fs.readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/** Applies what is missing; returns the names applied now. */
export async function migrate(client: SqlClient, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  const applied: string[] = [];
  for (const m of all) {
    const done = await client.transaction(async (tx) => {
      // The lock comes first, even before the bookkeeping table is created: two processes
      // creating it at once would collide in the catalog.
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const rows = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (rows.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (done) applied.push(m.name);
  }
  return applied;
}
