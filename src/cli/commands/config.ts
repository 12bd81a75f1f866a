// `facegate config check [FILE]`: validates a configuration file (or FACEGATE_CONFIG, or the
// defaults) and prints the effective configuration, environment overrides applied, secrets hidden.
// `facegate config print --defaults`: the whole default configuration as a commented YAML file to
// start from (src/config/defaults-yaml.ts).
import { parseArgs } from 'node:util';

import { configWarnings, loadConfig, redactConfig } from '../../config/config.js';
import { defaultConfigValues, defaultConfigYaml } from '../../config/defaults-yaml.js';
import { UsageError } from '../usage-error.js';

export const configUsage = `facegate config check [FILE] [--json]
  Validates a configuration file (YAML or JSON; default FACEGATE_CONFIG) and prints the effective
  configuration with environment overrides applied.
facegate config print --defaults [--json]
  Prints the default configuration as YAML, each key with its description as a comment (--json:
  {"yaml": ..., "defaults": {...}}).`;

export async function configCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, defaults: { type: 'boolean', default: false } },
  });
  const [action, file, ...extra] = positionals;
  if (action === 'print') {
    if (!values.defaults || file !== undefined) {
      throw new UsageError(
        `Expected "config print --defaults" but received "config print${file !== undefined ? ` ${[file, ...extra].join(' ')}` : ''}${values.defaults ? ' --defaults' : ''}"` +
          ' (the effective configuration of a file: "config check [FILE]")',
      );
    }
    const yaml = defaultConfigYaml();
    out({ yaml, defaults: defaultConfigValues() }, yaml.trimEnd());
    return;
  }
  if (action !== 'check' || extra.length || values.defaults)
    throw new UsageError('Expected "config check [FILE]" or "config print --defaults"');
  const loaded = await loadConfig(file);
  const config = redactConfig(loaded);
  const warnings = configWarnings(loaded);
  out(
    { ok: true, config, warnings },
    [
      `${config.source ?? '(defaults)'}: valid`,
      ...warnings.map((w) => `warning: ${w}`),
      JSON.stringify(config, null, 2),
    ].join('\n'),
  );
}
