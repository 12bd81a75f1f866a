// The PostgreSQL and Redis every development and CI machine runs (TOOLING.md). Tests use them
// for behaviour, each in its own schema or key prefix; fault tests start disposable servers instead.
import { randomBytes } from 'node:crypto';

import { dropPostgresSchema } from '../../storage/db/sql-client.js';

export const SHARED_POSTGRES_URL = process.env.FACEGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const SHARED_REDIS_URL = process.env.FACEGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh schema name for one test file or case. */
export function uniqueSchema(prefix = 'fgtest'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export const dropSchema = dropPostgresSchema;
