import { pino } from 'pino';

/** A structured logger: a message plus fields. Never splice values into the message. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /**
   * Whether a call at `level` would be written, so a caller can skip building fields nobody reads
   * (a logger without it is taken to write every level).
   */
  isLevelEnabled?(level: Exclude<LogLevel, 'silent'>): boolean;
}

/** True when `logger` writes `level` (a logger that cannot say is taken to write it). */
export function logsAt(logger: Logger, level: Exclude<LogLevel, 'silent'>): boolean {
  return logger.isLevelEnabled?.(level) ?? true;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface JsonLoggerOptions {
  /** Field paths whose values are replaced by `[redacted]` (pino's `redact`). Default: `params`, `values`, `*.params`. */
  readonly redact?: readonly string[];
}

const DEFAULT_REDACT = ['params', 'values', '*.params', '*.values'];

/** Errors as plain fields (pino's own `err` serializer only applies to the `err` key). */
function serializeError(value: unknown): unknown {
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}

/**
 * JSON lines on stderr through pino (stdout stays free for a CLI's real output): `level` as a name,
 * ISO `time`, the `base` fields, then the call's fields and `msg`. Parameter values are redacted
 * should a caller ever log them.
 */
export function jsonLogger(
  level: LogLevel = 'info',
  base: Record<string, unknown> = {},
  options: JsonLoggerOptions = {},
): Logger {
  const log = pino(
    {
      level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...(options.redact ?? DEFAULT_REDACT)], censor: '[redacted]' },
    },
    pino.destination({ dest: 2, sync: true }),
  );
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (fields === undefined) return log[lvl](message);
    const entry: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) entry[k] = serializeError(v);
    log[lvl](entry, message);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    isLevelEnabled: (lvl) => log.isLevelEnabled(lvl),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  isLevelEnabled: () => false,
};
