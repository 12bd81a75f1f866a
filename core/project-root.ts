// Where the project's own files are (models/manifest.json, build/Release/facegate.node, package.json,
// the var/ defaults) when running from the sources under vitest or from dist/ after a build: the one search
// for it, which core/native/index.ts also uses to find the addon.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The nearest folder above this module holding both package.json and native/ (the project root). */
export function projectRoot(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'native'))) {
      cached = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('facegate: cannot find the project root (package.json beside native/)');
    dir = parent;
  }
}
