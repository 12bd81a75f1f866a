// Puts the model files of models/manifest.json into the models folder, verified by sha256.
//   node dist/scripts/fetch-models.js [--dest DIR] [--from DIR] [--only NAME[,NAME]] [--json]
// --dest: default FACEGATE_MODELS_DIR, else <project root>/var/models.
// --from: a local folder to copy from first (../shared/models in development and CI); default
//         FACEGATE_MODELS_DIR when --dest names another folder.
// Prints one line per model (present / copied / fetched / failed), or with --json one JSON object;
// exits 1 if any model failed, 2 on a usage error.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { readEnvironment } from '../src/config/environment.js';
import { fetchModels, type FetchResult } from '../src/models/fetch.js';
import { defaultModelsDir, loadManifest } from '../src/models/manifest.js';

export interface ScriptIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = 'usage: fetch-models [--dest DIR] [--from DIR] [--only NAME[,NAME...]] [--manifest FILE] [--json]';

function line(result: FetchResult): string {
  const took = result.ms < 1000 ? `${result.ms} ms` : `${(result.ms / 1000).toFixed(1)} s`;
  const notes = result.notes.length > 0 ? `; ${result.notes.join('; ')}` : '';
  switch (result.status) {
    case 'present':
      return `present  ${result.name}  ${result.file}${notes}`;
    case 'copied':
    case 'fetched':
      return `${result.status}  ${result.name}  from ${result.from ?? '?'} to ${result.file} (${took})${notes}`;
    case 'failed':
      return `failed   ${result.name}  ${result.error ?? 'unknown error'}${notes}`;
  }
}

/** Runs the script with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: ScriptIo = { out: console.log, err: console.error }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dest: { type: 'string' },
        from: { type: 'string' },
        only: { type: 'string', multiple: true },
        manifest: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const environment = readEnvironment();
  const dest = path.resolve(values.dest ?? defaultModelsDir(environment));
  const envDir = environment.modelsDir !== undefined ? path.resolve(environment.modelsDir) : undefined;
  const from = values.from !== undefined ? path.resolve(values.from) : envDir !== dest ? envDir : undefined;
  const names = values.only
    ?.flatMap((v) => v.split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '');

  let results: FetchResult[];
  try {
    const manifest = await loadManifest(...(values.manifest !== undefined ? [values.manifest] : []));
    results = await fetchModels({
      dest,
      manifest,
      ...(from !== undefined ? { from } : {}),
      ...(names !== undefined ? { names } : {}),
    });
  } catch (error) {
    if (values.json) io.out(JSON.stringify({ ok: false, error: (error as Error).message }));
    else io.err(`fetch-models: ${(error as Error).message}`);
    return 2;
  }
  const ok = results.every((r) => r.status !== 'failed');
  if (values.json) io.out(JSON.stringify({ ok, dest, models: results }));
  else for (const result of results) (result.status === 'failed' ? io.err : io.out)(line(result));
  return ok ? 0 : 1;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  process.exitCode = await main(process.argv.slice(2));
}
