/**
 * Logging the pino way: one root logger per process writing to stderr (stdout is reserved for the
 * `--json` summary), child loggers bound to {role, rank, generation}, fields instead of strings.
 * Pretty on a TTY, JSON lines otherwise.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(role: string, level: LogLevel = 'info'): Logger {
  const stream = process.stderr.isTTY
    ? pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { role, pid: process.pid } }, stream);
}
