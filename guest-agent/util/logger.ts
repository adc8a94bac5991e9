// The engine's own log: leveled lines on stderr, one shared instance.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };

let threshold: LogLevel =
  (process.env.BERTH_LOG_LEVEL as LogLevel) in ORDER ? (process.env.BERTH_LOG_LEVEL as LogLevel) : 'info';

export function setLogLevel(level: string): void {
  if (!(level in ORDER))
    throw new Error(`invalid log level "${level}": use debug, info, warn, error or fatal`);
  threshold = level as LogLevel;
}

export function isLevelEnabled(level: LogLevel): boolean {
  return ORDER[level] >= ORDER[threshold];
}

function write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (!isLevelEnabled(level)) return;
  const extra = fields
    ? ' ' +
      Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null)}`)
        .join(' ')
    : '';
  process.stderr.write(
    `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}${extra}\n`,
  );
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
