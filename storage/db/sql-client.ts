// One small interface over the two PostgreSQL engines facegate runs on: a real server through a
// `pg` pool, or PGlite (PostgreSQL compiled to WASM) in the data root. The DbStore's SQL is the
// same on both; only connecting differs.
import { mkdir } from 'node:fs/promises';

import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

import type { Logger } from '../logger.js';

export interface SqlRunner {
  /** One statement with $1-style parameters. */
  query<R extends object>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlClient extends SqlRunner {
  readonly engine: 'postgres' | 'pglite';
  /** Runs fn in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * LISTEN on `channel` (a plain identifier) on a connection of its own (PostgreSQL), or in process
   * (PGlite); resolves once listening. `onLost` is called once when that connection breaks: listen
   * again once the database is back. The function returned stops listening.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onLost: (error: Error) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// A PostgreSQL identifier we create ourselves (a test or benchmark schema): plain, so it needs no quoting.
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function checkChannel(channel: string): void {
  if (!PLAIN_IDENTIFIER.test(channel)) {
    throw new Error(
      `Expected a channel name of lowercase letters, digits and '_' but received ${JSON.stringify(channel)}`,
    );
  }
}

export function checkSchemaName(schema: string): string {
  if (!PLAIN_IDENTIFIER.test(schema)) {
    throw new Error(
      `Expected a schema name of lowercase letters, digits and '_' but received ${JSON.stringify(schema)}`,
    );
  }
  return schema;
}

/** A pool on a real server. Idle-client errors (a restarted server) are logged, never thrown. */
export function connectPostgres(url: string, schema: string | undefined, logger: Logger): SqlClient {
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    // Fail fast when the server is gone: read-only mode must start in seconds, not minutes.
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    // A server that stops answering (a hung host, a dead link without a reset) must not hold a
    // writer forever: statements give up after 10 s and the store treats it as an outage.
    query_timeout: 10_000,
    statement_timeout: 10_000,
    keepAlive: true,
    ...(schema ? { options: `-c search_path=${checkSchemaName(schema)}` } : {}),
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'postgres: idle client error'));
  return {
    engine: 'postgres',
    async query<R extends object>(sql: string, params?: readonly unknown[]) {
      const result = await pool.query<R>(sql, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: SqlRunner) => Promise<T>) {
      const client = await pool.connect();
      // pg-pool listens for a checked-out client's errors only while it is idle: an 'error' from
      // a connection lost mid-transaction would otherwise be uncaught and end the process.
      const onError = (error: Error) => logger.warn({ err: error }, 'postgres: connection lost during a transaction');
      client.on('error', onError);
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const value = await fn({
          async query<R extends object>(sql: string, params?: readonly unknown[]) {
            return (await client.query<R>(sql, params as unknown[] | undefined)).rows;
          },
          async exec(sql: string) {
            await client.query(sql);
          },
        });
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.off('error', onError);
        // A connection that could not even roll back is destroyed, not returned to the pool.
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    async listen(channel, onNotify, onLost) {
      checkChannel(channel);
      // Not from the pool: a LISTEN belongs to its session, and a pooled client goes back to others.
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000, keepAlive: true });
      let lost = false;
      let stopped = false;
      const lose = (error: Error) => {
        if (lost || stopped) return;
        lost = true;
        onLost(error);
        client.end().catch(() => undefined);
      };
      client.on('error', lose);
      client.on('end', () => lose(new Error('Connection terminated: the LISTEN connection ended')));
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${channel}`);
      } catch (error) {
        stopped = true;
        await client.end().catch(() => undefined);
        throw error;
      }
      return async () => {
        stopped = true;
        await client.end().catch(() => undefined);
      };
    },
    async close() {
      await pool.end();
    },
  };
}

/** PGlite stored in `dir` (created if missing): the embedded default when no DATABASE_URL is set. */
export async function openPglite(dir: string, schema: string | undefined): Promise<SqlClient> {
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  if (schema) {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${checkSchemaName(schema)}; SET search_path TO ${schema}`);
  }
  return {
    engine: 'pglite',
    async query<R extends object>(sql: string, params?: readonly unknown[]) {
      return (await db.query<R>(sql, params as unknown[] | undefined)).rows;
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
    async transaction<T>(fn: (tx: SqlRunner) => Promise<T>) {
      return db.transaction((tx) =>
        fn({
          async query<R extends object>(sql: string, params?: readonly unknown[]) {
            return (await tx.query<R>(sql, params as unknown[] | undefined)).rows;
          },
          async exec(sql: string) {
            await tx.exec(sql);
          },
        }),
      );
    },
    // In process: PGlite is one embedded engine, and its NOTIFY reaches its own listeners on commit.
    async listen(channel, onNotify) {
      checkChannel(channel);
      const unlisten = await db.listen(channel, onNotify);
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
    async close() {
      await db.close();
    },
  };
}

// What a lost or refused connection looks like from `pg`: a socket error code, a PostgreSQL
// "connection exception" (class 08) or "operator intervention" (57P01-57P03: shutdown, crash
// recovery, cannot connect now), or one of pg's own messages, which carry no code.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection ended unexpectedly',
  'Query read timeout',
];

/**
 * True when the server answers but refuses every write: SQLSTATE 25006 read_only_sql_transaction
 * (default_transaction_read_only turned on, or a hot standby after a failover). Nothing was
 * written: the statement failed before its transaction could commit.
 */
export function isReadOnlyRefusal(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '25006';
}

/**
 * True when `error` means the database cannot take writes now (read-only mode): the server is
 * unreachable, or it refuses writes (isReadOnlyRefusal). Not that the statement was wrong.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : '';
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code)) return true;
  if (isReadOnlyRefusal(error)) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return CONNECTION_MESSAGES.some((m) => error.message.includes(m));
}

/** Drops a schema made for a test or benchmark run (with everything in it) on a server. */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${checkSchemaName(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
