/** Runs the built CLI (dist/cli.js) as a real child process and captures its output. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` to completion, capturing its output; fails after `timeoutMs` (the child is
 * killed) with `what` and the end of its stderr.
 */
export function runNode(args: string[], what: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 150_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${timeoutMs} ms\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return runNode([CLI, ...args], `ringtrain ${args.join(' ')}`, opts);
}

/** The last line of stdout parsed as the --json summary. */
export function summaryOf(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  if (r.code !== 0 || lines.length !== 1) throw new Error(`expected one summary line and exit 0, got code ${r.code}:\n${r.stdout}\n${r.stderr.slice(-4000)}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

/** One JSON log line (pino's: level, time, msg and the line's own fields). */
export type LogRecord = Record<string, unknown>;

/**
 * Fields a log line must have, in any order: a value must equal the field (deeply), a RegExp must
 * match a string field, a function must return true for it.
 */
export type LogFields = Record<string, unknown>;

/** The JSON lines of a log, in order; other lines (a human summary, a stack) are skipped. */
export function logRecords(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // A line still being written, or not JSON after all.
    }
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether `rec` has every one of `fields` (see LogFields). */
export function logMatches(rec: LogRecord, fields: LogFields): boolean {
  return Object.entries(fields).every(([k, want]) => {
    const v = rec[k];
    if (want instanceof RegExp) return typeof v === 'string' && want.test(v);
    if (typeof want === 'function') return (want as (x: unknown) => boolean)(v);
    return same(v, want);
  });
}

/** The first JSON log line of `text` with all of `fields`, or undefined. */
export function findLog(text: string, fields: LogFields): LogRecord | undefined {
  return logRecords(text).find((r) => logMatches(r, fields));
}

/** A long-running CLI child whose stderr can be awaited line by line. */
export interface LiveProcess {
  child: import('node:child_process').ChildProcess;
  stderr: () => string;
  stdout: () => string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The first JSON log line on stderr with all of `fields` (in any key order), once it comes. */
  waitForLog(fields: LogFields, timeoutMs?: number): Promise<LogRecord>;
  /** The JSON log lines on stderr so far. */
  logs(): LogRecord[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): LiveProcess {
  return liveProcess(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Watches a spawned child (stdio piped) as a LiveProcess. */
export function liveProcess(child: import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>): LiveProcess {
  let err = '';
  const listeners = new Set<() => void>();
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of listeners) l();
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  // Complete lines are parsed once, as they arrive.
  const records: LogRecord[] = [];
  let parsedTo = 0;
  const logs = (): LogRecord[] => {
    const end = err.lastIndexOf('\n') + 1;
    if (end > parsedTo) {
      records.push(...logRecords(err.slice(parsedTo, end)));
      parsedTo = end;
    }
    return records;
  };
  /** Resolves with `find`'s first non-null answer over stderr, checked on every chunk. */
  const until = <T>(find: () => T | null, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = find();
        if (hit === null) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no ${what} in stderr within ${timeoutMs} ms:\n${err.slice(-3000)}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    logs,
    waitFor: (re, timeoutMs = 60_000) => until(() => err.match(re), String(re), timeoutMs),
    waitForLog: (fields, timeoutMs = 60_000) => until(() => logs().find((r) => logMatches(r, fields)) ?? null, `log line with ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v))}`, timeoutMs),
  };
}
