/**
 * The little logging the simulators need. A pino logger fits this shape, so the host process can
 * pass its own; the CLI uses the console one.
 */
export interface SimLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};
export const silentLogger: SimLogger = { debug: noop, info: noop, warn: noop, error: noop };

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type SimLogLevel = (typeof LEVELS)[number] | 'silent';

/** One line per entry on stderr, so stdout stays free for the CLI's progress and summary. */
export function consoleLogger(level: SimLogLevel = 'info'): SimLogger {
  const min = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const at =
    (l: (typeof LEVELS)[number]) =>
    (obj: object, msg?: string): void => {
      if (LEVELS.indexOf(l) < min) return;
      const fields = Object.keys(obj).length > 0 ? ` ${JSON.stringify(obj)}` : '';
      process.stderr.write(`${new Date().toISOString()} ${l.padEnd(5)} ${msg ?? ''}${fields}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
