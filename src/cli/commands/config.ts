// `facegate config check [FILE]`: validates a configuration file (or FACEGATE_CONFIG, or the
// defaults) and prints the effective configuration, environment overrides applied, secrets hidden.
import { parseArgs } from 'node:util';

import { configWarnings, loadConfig, redactConfig } from '../../config/config.js';
import { UsageError } from '../usage-error.js';

export const configUsage = `facegate config check [FILE] [--json]
  Validates a configuration file (YAML or JSON; default FACEGATE_CONFIG) and prints the effective
  configuration with environment overrides applied.`;

export async function configCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const [action, file, ...extra] = positionals;
  if (action !== 'check' || extra.length) throw new UsageError('Expected "config check [FILE]"');
  const loaded = await loadConfig(file);
  const config = redactConfig(loaded);
  const warnings = configWarnings(loaded);
  out(
    { ok: true, config, warnings },
    [`${config.source ?? '(defaults)'}: valid`, ...warnings.map((w) => `warning: ${w}`), JSON.stringify(config, null, 2)].join('\n'),
  );
}
