#!/usr/bin/env node
// The `facegate` command. Each subcommand lives in commands/; this file only dispatches and
// owns the output contract: with --json, exactly one JSON object on stdout (logs go to stderr),
// and a non-zero exit code when a command refuses or fails.
import { toJson } from '../bigint-json.js';

import { backupCommand, backupUsage, restoreCommand, restoreUsage } from './commands/backup.js';
import { benchCommand, benchUsage } from './commands/bench.js';
import { calibrateCommand, calibrateUsage } from './commands/calibrate.js';
import { configCommand, configUsage } from './commands/config.js';
import { doctorCommand, doctorUsage } from './commands/doctor.js';
import { enrollCommand, enrollUsage } from './commands/enroll.js';
import { evalCommand, evalUsage } from './commands/eval.js';
import { outputsCommand, outputsUsage } from './commands/outputs.js';
import { retentionCommand, retentionUsage } from './commands/retention.js';
import { serveCommand, serveUsage } from './commands/serve.js';
import { eventsCommand, eventsUsage } from './commands/events.js';
import { identifyCommand, identifyUsage } from './commands/identify.js';
import { analyzeFacesCommand, analyzeFacesUsage, DEPRECATED_ANALYZE_FACES_NAME } from './commands/analyze-faces.js';
import { indexCommand, indexUsage } from './commands/embedding-index.js';
import { serviceCommand, serviceUsage } from './commands/service.js';
import { unknownCommand, unknownUsage } from './commands/unknown.js';
import { usersCommand, usersUsage } from './commands/users.js';
import { cliErrorMessage } from './error-message.js';
import { UsageError } from './usage-error.js';

/** Runs a command; resolves to its exit code (a refusal it reports itself, like a refused enrollment) or nothing for 0. */
type Command = (argv: string[], out: (json: unknown, text: string) => void) => Promise<number | void>;

const commands: Record<string, { run: Command; usage: string }> = {
  bench: { run: benchCommand, usage: benchUsage },
  enroll: { run: enrollCommand, usage: enrollUsage },
  users: { run: usersCommand, usage: usersUsage },
  identify: { run: identifyCommand, usage: identifyUsage },
  events: { run: eventsCommand, usage: eventsUsage },
  unknown: { run: unknownCommand, usage: unknownUsage },
  index: { run: indexCommand, usage: indexUsage },
  config: { run: configCommand, usage: configUsage },
  serve: { run: serveCommand, usage: serveUsage },
  outputs: { run: outputsCommand, usage: outputsUsage },
  retention: { run: retentionCommand, usage: retentionUsage },
  'analyze-faces': { run: analyzeFacesCommand, usage: analyzeFacesUsage },
  eval: { run: evalCommand, usage: evalUsage },
  calibrate: { run: calibrateCommand, usage: calibrateUsage },
  doctor: { run: doctorCommand, usage: doctorUsage },
  service: { run: serviceCommand, usage: serviceUsage },
  backup: { run: backupCommand, usage: backupUsage },
  restore: { run: restoreCommand, usage: restoreUsage },
};

const usage = `Usage: facegate <command> [options]    (facegate <command> --help: that command's usage alone)

Commands:
${Object.values(commands)
  .map((c) => c.usage)
  .join('\n\n')}`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const [name, ...rest] = argv;
  try {
    if (name === 'help' && rest[0] !== undefined && Object.hasOwn(commands, rest[0]))
      return await main([rest[0], '--help', ...rest.slice(1)]);
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      process.stdout.write(`${usage}\n`);
      return name === undefined ? 2 : 0;
    }
    // The old name runs the command it was renamed to; not in the usage, so new scripts use the new one.
    if (name === DEPRECATED_ANALYZE_FACES_NAME) {
      process.stderr.write(
        `facegate: "${DEPRECATED_ANALYZE_FACES_NAME}" is deprecated and will be removed; use "analyze-faces" (it analyses faces, it names nobody)\n`,
      );
    }
    const command = commands[name === DEPRECATED_ANALYZE_FACES_NAME ? 'analyze-faces' : name];
    if (!command) throw new UsageError(`Unknown command "${name}"`);
    // The one place --help is handled, for every command and subcommand alike: before the command
    // parses its arguments (parseArgs would refuse --help as an unknown option) or opens anything.
    // An argument after "--" is an operand, not a flag.
    const end = rest.indexOf('--');
    const flags = end === -1 ? rest : rest.slice(0, end);
    if (flags.includes('--help') || flags.includes('-h')) {
      process.stdout.write(`${json ? toJson({ usage: command.usage }) : command.usage}\n`);
      return 0;
    }
    return (await command.run(rest, (value, text) => process.stdout.write(`${json ? toJson(value) : text}\n`))) ?? 0;
  } catch (error) {
    const message = cliErrorMessage(error);
    if (json) process.stdout.write(`${toJson({ error: message })}\n`);
    process.stderr.write(`facegate: ${message}\n`);
    const parseError = (error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS') === true;
    if (error instanceof UsageError || parseError) {
      process.stderr.write(`\n${usage}\n`);
      return 2;
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
