// The logging the storage layer needs: pino's interface, so the service passes its pino logger
// and tests pass a silent one.
import pino from 'pino';

export type Logger = Pick<pino.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export const silentLogger: Logger = pino({ level: 'silent' });
