/**
 * Logging the pino way: one root logger per process writing to stderr (stdout is reserved for the
 * `--json` summary), child loggers bound to {role, rank, generation}, fields instead of strings.
 * Pretty on a TTY, JSON lines otherwise.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

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

export function createLogger(role: string, level: LogLevel = 'info'): Logger {
  const stream = process.stderr.isTTY
    ? pretty({ destination: ttyOut, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { role, pid: process.pid } }, stream);
}
