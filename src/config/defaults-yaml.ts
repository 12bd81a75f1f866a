// The whole default configuration as a YAML file a site engineer can read and start from (`facegate
// config print --defaults`): every key of the schema in config.ts with its description as a comment,
// its default as the value, and the keys without a default (absent means something: the site's
// calibration, PGlite, the manifest's model) commented out. Read from the schema itself, so it
// cannot drift from what the loader does; the printed file loads back to the built-in defaults.
import { stringify } from 'yaml';
import { z } from 'zod';

import { configSchema } from './config.js';

/** Comment lines are wrapped here: the house line length of the config examples in the README. */
const WIDTH = 100;

/** What a schema is under its default, prefault and optional wrappers, and its default if it has one. */
function unwrap(schema: z.ZodType): { base: z.ZodType; hasDefault: boolean } {
  let s = schema;
  let hasDefault = false;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      hasDefault = true;
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else {
      return { base: s, hasDefault };
    }
  }
}

function wrap(text: string, prefix: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && prefix.length + line.length + 1 + word.length > WIDTH) {
      lines.push(prefix + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(prefix + line);
  return lines;
}

/** One value as YAML on a line (quoted where YAML would read it as something else). */
const scalar = (value: unknown): string => stringify(value, { lineWidth: 0 }).trimEnd();

function describeRequired(schema: z.ZodType): string {
  // A key shared by two sections is described once, under its default or optional wrapper.
  const text = schema.description ?? unwrap(schema).base.description;
  if (text === undefined)
    throw new Error('configuration key without a description (config.ts: every key gets .describe())');
  return text;
}

/** A section that may also be `false` (pipeline.motion: false | { ... }): its object branch. */
function objectOf(schema: z.ZodType): z.ZodType {
  if (!(schema instanceof z.ZodUnion)) return schema;
  const branch = (schema.options as z.ZodType[]).map((o) => unwrap(o).base).find((o) => o instanceof z.ZodObject);
  return branch ?? schema;
}

function objectLines(shape: Record<string, z.ZodType>, values: Record<string, unknown>, indent: string): string[] {
  const out: string[] = [];
  for (const [key, field] of Object.entries(shape)) {
    const base = objectOf(unwrap(field).base);
    // A blank line before each top-level key, for the eye.
    if (indent === '') out.push('');
    out.push(...wrap(`${describeRequired(field)}`, `${indent}# `));
    const value = values[key];
    if (base instanceof z.ZodObject && value === undefined) {
      // An optional section absent by default (access): written out commented, as an example;
      // "key: {}" would load as a section with its required keys missing.
      const inner = objectLines(base.shape, {}, `${indent}  `);
      out.push(`${indent}# ${key}:`, ...inner.map((line) => (line.trimStart().startsWith('#') ? line : `# ${line}`)));
    } else if (base instanceof z.ZodObject) {
      const inner = objectLines(base.shape, (value ?? {}) as Record<string, unknown>, `${indent}  `);
      // A section whose keys are all commented out is written {}: "key:" alone would be null.
      const empty = inner.every((line) => line.trimStart().startsWith('#'));
      out.push(`${indent}${key}:${empty ? ' {}' : ''}`, ...inner);
    } else if (base instanceof z.ZodArray && unwrap(base.element as z.ZodType).base instanceof z.ZodObject) {
      out.push(...itemLines((unwrap(base.element as z.ZodType).base as z.ZodObject).shape, `${indent}#   `));
      out.push(`${indent}${key}: ${scalar(value)}`);
    } else if (value === undefined) {
      out.push(`${indent}# ${key}:`);
    } else {
      out.push(`${indent}${key}: ${scalar(value)}`);
    }
  }
  return out;
}

/** The keys of one list entry (a camera), each with its default or "required". */
function itemLines(shape: Record<string, z.ZodType>, prefix: string): string[] {
  const defaults = z.object(shape).partial().parse({}) as Record<string, unknown>;
  return [
    `${prefix.slice(0, -2)}Each entry:`,
    ...Object.entries(shape).flatMap(([key, field]) => {
      const value = defaults[key];
      const head =
        value !== undefined
          ? `${key} (default ${scalar(value)}):`
          : field instanceof z.ZodOptional
            ? `${key} (optional):`
            : `${key} (required):`;
      const [first = '', ...rest] = wrap(`${head} ${describeRequired(field)}`, `${prefix}  `);
      return [`${prefix}${first.slice(prefix.length + 2)}`, ...rest];
    }),
  ];
}

/** The documented default configuration, as YAML; loading it gives the same configuration as no file. */
export function defaultConfigYaml(): string {
  const values = configSchema.parse({}) as Record<string, unknown>;
  return [
    '# facegate: the default configuration (facegate config print --defaults).',
    '# Every key may be left out; a commented-out key has no default and means what its comment says.',
    '# Environment overrides win over the file: FACEGATE_DATA_DIR, FACEGATE_MODELS_DIR, DATABASE_URL, REDIS_URL.',
    ...objectLines(configSchema.shape, values, ''),
    '',
  ].join('\n');
}

/** The built-in defaults as plain data (for `--json`): what the YAML above loads to, before paths are resolved. */
export function defaultConfigValues(): z.output<typeof configSchema> {
  return configSchema.parse({});
}
