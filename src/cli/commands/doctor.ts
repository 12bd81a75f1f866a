// `facegate doctor`: what this machine has and lacks for the appliance, one check per line, so a
// site engineer sees in seconds why the service will not start. Each check catches its own failure:
// one broken piece never hides the report on the others.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';
import pg from 'pg';

import { DataRootInUseError, openStorage, type Storage } from '../../../storage/index.js';
import { redactCredentials, redactUrl } from '../../../storage/redact.js';
import { MIN_FFMPEG_MAJOR, probeFfmpegVersion } from '../../camera/ffmpeg-args.js';
import { loadConfig, storageConfigOf } from '../../config/config.js';
import { readEnvironment, type Environment } from '../../config/environment.js';
import { projectRoot } from '../../../core/project-root.js';
import { readSiteThreshold, siteThresholdReport } from '../../recognition/site-threshold.js';
import { embeddingModelOf } from '../../vision/index.js';
import { defaultModelsDir, loadManifest } from '../../models/manifest.js';
import { resolveModelFile } from '../../models/verify.js';
import { UsageError } from '../usage-error.js';

export const doctorUsage = `facegate doctor [--json]
  Checks ffmpeg (${MIN_FFMPEG_MAJOR}+), the default models (present, sha256 verified), the native addon and
  its SIMD level, the inference provider, the database and Redis (reachable), and free disk space on
  the data root. Exit code 1 when any check fails.`;

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Worth acting on, though nothing failed (the match threshold's calibration): printed as WARN lines. */
  warnings?: string[];
}

/** How long a server gets to answer before it counts as unreachable. */
const CONNECT_TIMEOUT_MS = 3_000;
/** Below this the data root cannot hold a day of unknown-face crops and a database dump with room to spare. */
const MIN_FREE_BYTES = 2 ** 30;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function check(name: string, run: () => Promise<string>): Promise<DoctorCheck> {
  try {
    return { name, ok: true, detail: await run() };
  } catch (error) {
    return { name, ok: false, detail: message(error) };
  }
}

async function checkFfmpeg(): Promise<string> {
  const found = await probeFfmpegVersion('ffmpeg', CONNECT_TIMEOUT_MS * 2);
  if (found.major < MIN_FFMPEG_MAJOR)
    throw new Error(`ffmpeg ${found.version} (major ${found.major}) is older than ${MIN_FFMPEG_MAJOR}`);
  return `ffmpeg ${found.version} (major ${found.major})`;
}

async function checkModels(modelsDir: string): Promise<DoctorCheck[]> {
  const manifest = await loadManifest();
  const roles = Object.entries(manifest.default).filter((e): e is [string, string] => e[1] !== undefined);
  return Promise.all(
    roles.map(([role, name]) =>
      check(`model ${role}`, async () => {
        const resolved = await resolveModelFile(name, modelsDir, manifest);
        return `${resolved.id} at ${resolved.path}: sha256 verified`;
      }),
    ),
  );
}

async function checkAddon(): Promise<string> {
  const { simdInfo } = await import('../../../core/native/index.js');
  const simd = simdInfo();
  return `loaded: SIMD ${simd.active} (CPU supports ${simd.detected}), ${simd.threads} search threads`;
}

/** So that a site's figures can be compared with the README's: which CPU, which extensions. */
async function checkCpu(): Promise<string> {
  const { cpuInfo } = await import('../../../core/native/index.js');
  const cpu = cpuInfo();
  return `${cpu.model || '(no brand string)'} (${cpu.vendor}), ${os.availableParallelism()} cores; ${cpu.features.join(' ')}`;
}

async function checkInference(modelsDir: string): Promise<string> {
  const manifest = await loadManifest();
  const embedder = await resolveModelFile(manifest.default.embedder, modelsDir, manifest);
  const { createSession, describeCpuTuning, facegateCpuTuning } = await import('../../vision/inference.js');
  const s = await createSession(embedder.path, { provider: 'auto', cpu: facegateCpuTuning('embedder') });
  try {
    const settings = `CPU sessions: detector ${describeCpuTuning(facegateCpuTuning('detector'))}; embedder ${describeCpuTuning(facegateCpuTuning('embedder'))}`;
    return `active ${s.provider} (requested ${s.requested})${s.fallback !== undefined ? `; fallback: ${s.fallback}` : ''}; ${settings}`;
  } finally {
    await s.session.release();
  }
}

async function checkDatabase(env: Environment): Promise<string> {
  if (env.databaseUrl === undefined) return 'embedded PGlite (no server configured)';
  const client = new pg.Client({
    connectionString: env.databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: CONNECT_TIMEOUT_MS,
  });
  // An error after connect (server restart) must not crash the report.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ version: string }>('SELECT 1 AS one, version() AS version');
    return `${redactUrl(env.databaseUrl)} reachable: ${r.rows[0]?.version.split(' ').slice(0, 2).join(' ') ?? 'PostgreSQL'}`;
  } catch (error) {
    throw new Error(
      `${redactUrl(env.databaseUrl)} unreachable: ${redactCredentials(message(error)) || (error as { code?: string }).code || 'connection failed'}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(env: Environment): Promise<string> {
  if (env.redisUrl === undefined) return 'memory mode (no Redis configured): health is kept in memory';
  const redis = new Redis(env.redisUrl, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const pong = await redis.ping();
    return `${redactUrl(env.redisUrl)} reachable: PING -> ${pong}`;
  } catch (error) {
    throw new Error(`${redactUrl(env.redisUrl)} unreachable: ${redactCredentials(message(error))}`, { cause: error });
  } finally {
    redis.disconnect();
  }
}

async function checkDisk(dataDir: string): Promise<string> {
  // The data root may not exist yet: its nearest existing folder is on the same file system.
  let dir = path.resolve(dataDir);
  for (;;) {
    try {
      await fs.access(dir);
      break;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  const s = await fs.statfs(dir);
  const free = s.bavail * s.bsize;
  const gib = (free / 2 ** 30).toFixed(1);
  if (free < MIN_FREE_BYTES) throw new Error(`${gib} GiB free on the file system of ${dataDir}: below 1 GiB`);
  return `${gib} GiB free on the file system of ${dataDir}`;
}

// --- site calibration (issue 13): where the match threshold comes from, and whether the gallery outgrew it ---
async function checkSiteThreshold(env: Environment): Promise<DoctorCheck> {
  const name = 'match threshold';
  const config = await loadConfig(undefined, env);
  // Opening the stores of a site that was never set up would create its database tables: a check must not.
  if (!(await fs.stat(config.dataDir).catch(() => null))?.isDirectory()) {
    return {
      name,
      ok: true,
      detail: `not set up yet (no data root at ${config.dataDir}): the site was never calibrated`,
    };
  }
  const model = await embeddingModelOf(config.inference.embedder ? { embedder: config.inference.embedder } : {});
  let storage: Storage;
  try {
    storage = await openStorage(storageConfigOf(config), { embeddingModel: model });
  } catch (error) {
    if (error instanceof DataRootInUseError)
      return {
        name,
        ok: true,
        detail: 'not read: the running service holds the data root; GET /health reports the threshold and its warnings',
      };
    throw error;
  }
  try {
    const site = await readSiteThreshold(config.recognition.match, storage.db, model.id);
    const report = siteThresholdReport(site, (await storage.db.listUsers({ status: 'active' })).length);
    const c = report.calibration;
    const from =
      site.source === 'calibration' && c
        ? `calibrated ${c.createdAt} for ${c.gallerySize} active users at target ${c.target}`
        : site.source === 'config'
          ? 'recognition.match in the configuration'
          : 'the built-in default';
    return {
      name,
      ok: true,
      detail: `${site.match} (${from}); ${report.activeUsers} active users now`,
      warnings: report.warnings,
    };
  } finally {
    await storage.close();
  }
}
// --- end of site calibration ---

export async function runDoctor(env: Environment = readEnvironment()): Promise<DoctorCheck[]> {
  const modelsDir = defaultModelsDir(env);
  const dataDir = env.dataDir ?? path.join(projectRoot(), 'var', 'storage');
  const [cpu, ffmpeg, models, addon, inference, database, redis, disk, threshold] = await Promise.all([
    check('cpu', checkCpu),
    check('ffmpeg', checkFfmpeg),
    checkModels(modelsDir).catch((error: unknown) => [{ name: 'models', ok: false, detail: message(error) }]),
    check('native addon', checkAddon),
    check('inference provider', () => checkInference(modelsDir)),
    check('database', () => checkDatabase(env)),
    check('redis', () => checkRedis(env)),
    check('disk space', () => checkDisk(dataDir)),
    checkSiteThreshold(env).catch((error: unknown) => ({ name: 'match threshold', ok: false, detail: message(error) })),
  ]);
  return [cpu, ffmpeg, ...models, addon, inference, database, redis, disk, threshold];
}

export async function doctorCommand(
  argv: string[],
  out: (json: unknown, text: string) => void,
): Promise<number | void> {
  const { positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 0)
    throw new UsageError(`Expected "doctor" without arguments but received ${positionals.join(' ')}`);
  const checks = await runDoctor();
  const ok = checks.every((c) => c.ok);
  out(
    { ok, checks },
    checks
      .flatMap((c) => [
        `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`,
        ...(c.warnings ?? []).map((w) => `WARN ${c.name}: ${w}`),
      ])
      .join('\n'),
  );
  return ok ? 0 : 1;
}
