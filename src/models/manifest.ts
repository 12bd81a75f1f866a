// The model manifest (models/manifest.json): which models there are, their roles, tensors, sizes,
// sha256, licence and where each comes from. The file itself stays in the project's models/ folder
// (data, not code); this module finds it through the project root, so it works from the sources
// and from dist/ alike. Checking a model file's bytes against an entry is verify.ts.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { quoteReceived } from '../../storage/checks.js';
import type { Environment } from '../config/environment.js';
import { projectRoot } from '../../core/project-root.js';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

// Windows refuses these as file names whatever the extension (CON.onnx is still CON).
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

const fileName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*\.onnx$/, 'expected a plain file name ending in .onnx (no folders)')
  .refine((name) => !WINDOWS_RESERVED.test(name), 'a reserved file name on Windows');

// npm's own rules for package names (lower case, optional scope); an exact version pins the bytes.
const npmPackage = z
  .string()
  .regex(/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/, 'expected an npm package name');
const exactVersion = z
  .string()
  .regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/, 'expected an exact version (x.y.z), not a range');
const packagePath = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'expected a relative path inside the package, with / separators')
  .refine((p) => !p.split('/').includes('..'), 'must not leave the package');

const dim = z.union([z.number().int().positive(), z.string().min(1)]);

const tensorSpec = z.strictObject({
  name: z.string().min(1),
  /** Numbers are fixed sizes; strings are the model's symbolic (dynamic) dimensions. */
  shape: z.array(dim).min(1),
});

export const modelEntrySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected lower-case letters, digits, _ . -'),
  role: z.enum(['detector', 'embedder']),
  file: fileName,
  sha256: sha256Hex,
  /** The file's size: a download larger than this is cut off before it fills a disk. */
  bytes: z.number().int().positive(),
  input: tensorSpec.extend({
    layout: z.literal('NCHW'),
    colourOrder: z.enum(['RGB', 'BGR']),
    /** Each value fed is (pixel - mean) / std, pixels 0..255. */
    normalisation: z.strictObject({ mean: z.number(), std: z.number().positive() }),
    /** Dynamic height and width must be multiples of this. */
    multipleOf: z.number().int().positive().optional(),
  }),
  output: z.array(tensorSpec).min(1),
  licence: z.string().min(1),
  provenance: z.string().min(1),
  source: z.union([
    z.strictObject({ npm: z.strictObject({ package: npmPackage, version: exactVersion, path: packagePath }) }),
    z.strictObject({ url: z.url({ protocol: /^https?$/ }) }),
  ]),
});

export const manifestSchema = z
  .strictObject({
    version: z.literal(1),
    notes: z.array(z.string()).optional(),
    default: z.strictObject({ detector: z.string(), embedder: z.string(), cameraDetector: z.string().optional() }),
    models: z.array(modelEntrySchema).min(1),
  })
  .superRefine((manifest, ctx) => {
    const names = new Set<string>();
    const files = new Set<string>();
    manifest.models.forEach((entry, i) => {
      if (names.has(entry.name))
        ctx.addIssue({ code: 'custom', path: ['models', i, 'name'], message: `duplicate model name ${entry.name}` });
      // Case-insensitive: two names differing only in case are one file on Windows.
      const file = entry.file.toLowerCase();
      if (files.has(file))
        ctx.addIssue({ code: 'custom', path: ['models', i, 'file'], message: `duplicate file ${entry.file}` });
      names.add(entry.name);
      files.add(file);
    });
    for (const key of ['detector', 'embedder', 'cameraDetector'] as const) {
      const name = manifest.default[key];
      if (name === undefined && key === 'cameraDetector') continue;
      const role = key === 'embedder' ? 'embedder' : 'detector';
      const entry = manifest.models.find((m) => m.name === name);
      if (entry?.role !== role) {
        ctx.addIssue({
          code: 'custom',
          path: ['default', key],
          message: `expected the name of a listed ${role} but received ${quoteReceived(name)}`,
        });
      }
    }
  });

export type Manifest = z.output<typeof manifestSchema>;
export type ModelEntry = z.output<typeof modelEntrySchema>;
export type ModelRole = ModelEntry['role'];
export type ModelSource = ModelEntry['source'];

/** models/manifest.json in the project. */
export function defaultManifestPath(): string {
  return path.join(projectRoot(), 'models', 'manifest.json');
}

/**
 * Where model files are: the environment's FACEGATE_MODELS_DIR, else <project root>/var/models. The
 * caller reads the environment (readEnvironment()) and passes it: this module reads none itself.
 */
export function defaultModelsDir(environment: Pick<Environment, 'modelsDir'>): string {
  return environment.modelsDir !== undefined
    ? path.resolve(environment.modelsDir)
    : path.join(projectRoot(), 'var', 'models');
}

/** Validates a parsed manifest; an error names each bad key, what was expected and what was received. */
export function parseManifest(input: unknown, source = 'manifest'): Manifest {
  const result = manifestSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const received = 'input' in issue && issue.input !== undefined ? ` (received ${quoteReceived(issue.input)})` : '';
      return `  ${issue.path.join('.') || '(root)'}: ${issue.message}${received}`;
    });
    throw new Error(`${source} is not a valid model manifest:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** Reads and validates a manifest file (default: the project's models/manifest.json). */
export async function loadManifest(file: string = defaultManifestPath()): Promise<Manifest> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the model manifest ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseManifest(json, file);
}

/** The entry named `name`; the error lists the names there are. */
export function modelEntry(manifest: Manifest, name: string): ModelEntry {
  const entry = manifest.models.find((m) => m.name === name);
  if (entry === undefined) {
    throw new RangeError(
      `Expected a model name from the manifest (${manifest.models.map((m) => m.name).join(', ')}) but received ${quoteReceived(name)}`,
    );
  }
  return entry;
}

/** The manifest's default model for a role. */
export function defaultModel(manifest: Manifest, role: ModelRole): ModelEntry {
  return modelEntry(manifest, manifest.default[role]);
}

/** "<name>@<first 12 hex digits of its sha256>": travels with every embedding made by this model. */
export function modelId(entry: Pick<ModelEntry, 'name' | 'sha256'>): string {
  return `${entry.name}@${entry.sha256.slice(0, 12)}`;
}
