// `facegate config check [FILE]`: validates a configuration file (or FACEGATE_CONFIG, or the
// defaults) and prints the effective configuration, environment overrides applied, secrets hidden.
import { parseArgs } from 'node:util';

import { loadConfig, redactConfig } from '../../config/config.js';
import { UsageError } from '../usage-error.js';

export const configUsage = `facegate config check [FILE] [--json]
  Validates a configuration file (YAML or JSON; default FACEGATE_CONFIG) and prints the effective
  configuration with environment overrides applied.`;

export async function configCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const [action, file, ...extra] = positionals;
  if (action !== 'check' || extra.length) throw new UsageError('Expected "config check [FILE]"');
  const config = redactConfig(await loadConfig(file));
  out(
    { ok: true, config },
    `${config.source ?? '(defaults)'}: valid\n${JSON.stringify(config, null, 2)}`,
  );
}
