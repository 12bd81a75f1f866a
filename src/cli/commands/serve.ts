// `facegate serve`: runs the appliance until SIGINT or SIGTERM (the Windows service stop arrives
// as one through WinSW), then shuts down cleanly. Logs are JSON lines on stdout (pino); rotation
// is the service wrapper's job (WinSW roll-by-size, journald).
import { parseArgs } from 'node:util';

import pino from 'pino';

import { loadConfig } from '../../config/config.js';
import { startService } from '../../service/service.js';
import { UsageError } from '../usage-error.js';

export const serveUsage = `facegate serve [--config FILE]
  Runs cameras, recognition and the periodic jobs until stopped (SIGINT/SIGTERM).`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' } } });
  if (positionals.length) throw new UsageError(`Expected no arguments but received ${positionals.join(' ')}`);
  const config = await loadConfig(values.config);
  const logger = pino({ level: config.logging.level });
  // Listening for the stop before starting: a stop that arrives while models and stores are
  // still loading is honoured as soon as they are up, through the same clean shutdown.
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const service = await startService(config, logger);
  await stopRequested;
  await service.stop();
  return 0;
}
