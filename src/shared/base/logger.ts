/**
 * Logging the pino way: one root logger per process writing to stderr (stdout is reserved for the
 * `--json` summary), child loggers bound to {role, rank, generation}, fields instead of strings.
 * Pretty on a TTY, JSON lines otherwise.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where pretty (TTY) log text goes instead of stderr while a progress bar owns the terminal. */
let ttySink: ((text: string) => void) | null = null;

/** Routes pretty log output through `sink` (e.g. a progress bar's log method); null restores stderr. */
export function setTtyLogSink(sink: ((text: string) => void) | null): void {
  ttySink = sink;
}

const ttyOut = new Writable({
  write(chunk: Buffer | string, _enc, done): void {
    const text = chunk.toString();
    if (ttySink) ttySink(text);
    else process.stderr.write(text);
    done();
  },
});

/**
 * A number as a person reads it in a log line: 4 significant digits, whole numbers from 1000 up
 * (0.29712345 → 0.2971, 17.18270 → 17.18, 3212.55 → 3213). Integers and non-finite values stay.
 */
export function roundForHumans(v: number): number {
  if (Number.isInteger(v) || !Number.isFinite(v)) return v;
  return Math.abs(v) >= 1000 ? Math.round(v) : Number(v.toPrecision(4));
}

/** `roundForHumans` applied to every number in a log record (nested objects and arrays too). */
export function roundFields<T>(value: T): T {
  if (typeof value === 'number') return roundForHumans(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => roundFields(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundFields(v)])) as T;
  }
  return value;
}

export function createLogger(role: string, level: LogLevel = 'info'): Logger {
  // On a terminal a person reads the lines: round floats there. JSON lines keep full precision.
  if (process.stderr.isTTY) {
    const stream = pretty({ destination: ttyOut, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return pino({ level, base: { role, pid: process.pid }, formatters: { log: (obj) => roundFields(obj) } }, stream);
  }
  return pino({ level, base: { role, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
