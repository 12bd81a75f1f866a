// What a crash during enrollment or deletion leaves (issue 12, 3.4): a child process enrolls and
// deletes a person in a loop and is SIGKILLed at random points; after each kill the data root is
// opened and swept as the service's start does. No face image of a person who is not enrolled may
// remain (a deleted user keeps the originals recorded as kept, the LLD), and the enrolled user's
// files come through intact. The real models, the shared PostgreSQL, the compiled code.
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seededRandom } from '../../src/seeded-random.js';
import { sweepLeftoverImages } from '../../storage/images/leftover-sweep.js';
import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { dropSchema, SHARED_POSTGRES_URL, uniqueSchema } from '../helpers/shared-servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'enroll-delete-forever.mjs');
const compiled = path.join(here, '..', '..', 'dist', 'src', 'recognition', 'enrollment.js');
const schema = uniqueSchema();
let dataRoot: string;

beforeAll(async () => {
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` before the tests`);
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-enroll-crash-'));
});
afterAll(async () => {
  await dropSchema(SHARED_POSTGRES_URL, schema);
  await fs.rm(dataRoot, { recursive: true, force: true });
});

interface Run {
  model: { id: string; dim: number };
  /** Ids whose enroll() returned. */
  enrolled: string[];
}

/**
 * Runs the child from user P<first> on and SIGKILLs it `ms` after P<first>'s enrollment starts
 * writing (its image folder appears), or after it returned (its deletion is then under way).
 */
function runAndKill(first: number, at: 'enrollment' | 'deletion', ms: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [child, dataRoot, SHARED_POSTGRES_URL, schema, MODELS_DIR, FACES_DIR, String(first)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => (timer ??= setTimeout(() => proc.kill('SIGKILL'), ms));
    const folder = path.join(dataRoot, 'images', 'users', `P${first}`);
    const watch = setInterval(() => {
      if (at === 'enrollment' && existsSync(folder)) kill();
    }, 2);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (at === 'deletion' && out.includes(`enrolled P${first}\n`)) kill();
    });
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // 'close', not 'exit': 'exit' can come before the last of the child's stdout has been read.
    proc.on('close', (_code, signal) => {
      clearTimeout(timer);
      clearInterval(watch);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended by itself (${String(signal)}): ${err}`));
        return;
      }
      // Only complete lines count: a line cut by the kill was not a finished report.
      const lines = out.split('\n').slice(0, -1);
      const [, id, dim] = (lines.find((l) => l.startsWith('ready ')) ?? '').split(' ');
      resolve({
        model: { id: id as string, dim: Number(dim) },
        enrolled: lines.filter((l) => l.startsWith('enrolled ')).map((l) => l.slice('enrolled '.length)),
      });
    });
  });
}

/** Every file under `dir`, relative, with forward slashes. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('enrollment and deletion killed at random points', () => {
  it('leave, once swept, no face image of anyone not enrolled, and the enrolled intact', async () => {
    const random = seededRandom(7);
    const everEnrolled = new Set<string>();
    let keeperFiles: string[] | null = null;
    let removedSomething = false;
    for (let round = 0; round < 6; round++) {
      // Writing an enrollment's 8 files and committing takes some tens of ms here, a deletion less.
      const run = await runAndKill(
        round * 1000,
        round % 2 === 0 ? 'enrollment' : 'deletion',
        Math.floor(random() * (round % 2 === 0 ? 60 : 20)),
      );
      run.enrolled.forEach((id) => everEnrolled.add(id));

      const storage = await openStorage(parseStorageConfig({ dataRoot, databaseUrl: SHARED_POSTGRES_URL }), {
        embeddingModel: run.model,
        schema,
      });
      try {
        const sweep = await sweepLeftoverImages(storage.db, storage.images, silentLogger);
        expect(sweep.ran).toBe(true);
        if (sweep.ran && (sweep.removed.length || sweep.removedFolders.length)) removedSomething = true;

        const committed = new Set((await storage.db.listUsers()).map((u) => u.id));
        // An enrollment that committed but was killed before it printed is enrolled all the same:
        // the next child deletes it, and its kept originals are then rightly there.
        committed.forEach((id) => everEnrolled.add(id));
        expect(committed.has('keeper')).toBe(true);
        const users = path.join(dataRoot, 'images', 'users');
        expect(
          (await filesUnder(path.join(dataRoot, 'images'))).filter((f) => path.basename(f).endsWith('.tmp')),
        ).toEqual([]);
        for (const userId of await storage.images.listUsers()) {
          const files = await filesUnder(path.join(users, userId));
          const metadata = await storage.images.readMetadata(userId);
          const recorded = (metadata?.images ?? []).map((i) => `${i.kind}/${i.file}`);
          // Every image on disk is recorded and whole.
          expect(
            files.filter((f) => f !== 'metadata.json'),
            userId,
          ).toEqual([...recorded].sort());
          expect((await storage.images.scanUser(userId)).corrupted, userId).toEqual([]);
          if (committed.has(userId)) continue;
          // No user row: only the originals a committed enrollment kept at its deletion.
          expect(everEnrolled.has(userId), `${userId} was never enrolled but has ${files.join(', ')}`).toBe(true);
          expect(
            files.filter((f) => f.startsWith('aligned/')),
            userId,
          ).toEqual([]);
          expect(recorded.map((f) => f.slice('original/'.length)).sort(), userId).toEqual(
            [...(metadata?.kept_originals ?? [])].sort(),
          );
        }
        const keeper = await filesUnder(path.join(users, 'keeper'));
        keeperFiles ??= keeper;
        expect(keeper).toEqual(keeperFiles);
        expect(keeper.filter((f) => f.startsWith('aligned/')).length).toBe(await storage.db.countEmbeddings('keeper'));
        // The database and the index agree (verified at open).
        expect(storage.embeddings.stats()).toMatchObject({
          verified: true,
          count: (await storage.db.listEmbeddings(run.model.id)).length,
        });
      } finally {
        await storage.close();
      }
    }
    expect(everEnrolled.size).toBeGreaterThan(0);
    // Not asserted (timing-dependent), but reported: did a kill leave anything to sweep?
    console.info(
      `enrollment-crash: ${everEnrolled.size} enrollments returned over 6 kills; the sweep removed something: ${removedSomething}`,
    );
  }, 240_000);
});
