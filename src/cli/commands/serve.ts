// `facegate serve`: runs the appliance until SIGINT or SIGTERM (the Windows service stop arrives
// as one through WinSW), then shuts down cleanly. Logs are JSON lines on stdout (pino) for the
// service wrapper (journald, WinSW's log files; rotation is their job) and anything else that reads
// them; only a person at a terminal gets pino-pretty's readable lines instead.
import { parseArgs } from 'node:util';

import pino from 'pino';
import pretty from 'pino-pretty';

import { loadConfig } from '../../config/config.js';
import { startService } from '../../service/service.js';
import { UsageError } from '../usage-error.js';

export const serveUsage = `facegate serve [--config FILE]
  Runs cameras, recognition and the periodic jobs until stopped (SIGINT/SIGTERM).`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string' } },
  });
  if (positionals.length) throw new UsageError(`Expected no arguments but received ${positionals.join(' ')}`);
  const config = await loadConfig(values.config);
  const options = { level: config.logging.level };
  const logger = process.stdout.isTTY ? pino(options, terminalLog()) : pino(options);
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

/**
 * serve's log for a person at a terminal: pino-pretty's "[time] LEVEL: message" with the fields
 * below it, instead of the JSON lines a pipe or the service wrapper gets. Synchronous (in this
 * thread, not through pino's worker transport), so the lines before a crash or a stop are on screen.
 */
function terminalLog(): pino.DestinationStream {
  return pretty({
    destination: 1,
    sync: true,
    colorize: process.stdout.hasColors(),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}
