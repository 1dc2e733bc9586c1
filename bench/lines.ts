/**
 * What the benches share: JSON-line pipes to child processes (stdio, so the same code works for a
 * child started through `ip netns exec`), medians, bus bandwidth as nccl-tests defines it, and the
 * v1 jobs the step benches feed rows to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isJobV2, type Job, type JobV1 } from '../dist/shared/job/job.js';

/** The benches feed a job x and y rows directly: a v1 job, or one line saying why not. */
export function v1Job(job: Job): JobV1 {
  if (isJobV2(job)) throw new Error(`job ${job.name} declares named v2 tensors; this benchmark runs v1 jobs (x and y)`);
  return job;
}

/** busbw = algbw × 2(N-1)/N: the per-link rate a ring all-reduce of `bytes` achieves. */
export function bandwidth(world: number, bytes: number, seconds: number): { algbw: number; busbw: number } {
  const algbw = bytes / seconds / 1e9;
  return { algbw, busbw: (algbw * 2 * (world - 1)) / world };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A child that speaks JSON lines on stdin/stdout; stderr passes through. */
export class LineChild {
  readonly proc: ChildProcess;
  private readonly queue: unknown[] = [];
  private waiter: ((v: unknown) => void) | null = null;
  private exited: string | null = null;

  constructor(cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        process.stderr.write(`${line}\n`);
        return;
      }
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(v);
      } else this.queue.push(v);
    });
    this.proc.on('exit', (code, sig) => {
      this.exited = `exited with ${sig ?? `code ${code}`}`;
      this.waiter?.(undefined);
    });
  }

  send(v: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(v)}\n`);
  }

  /** Next JSON line, or an error after `timeoutMs` or when the child exits. */
  next(timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift() as Record<string, unknown>);
    if (this.exited) return Promise.reject(new Error(`bench child ${this.exited}`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`bench child sent nothing within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (v) => {
        clearTimeout(t);
        if (v === undefined) reject(new Error(`bench child ${this.exited ?? 'ended'}`));
        else resolve(v as Record<string, unknown>);
      };
    });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** Reads JSON lines from this process's stdin (the child side of LineChild). */
export function stdinLines(onLine: (v: Record<string, unknown>) => void): void {
  createInterface({ input: process.stdin }).on('line', (line) => onLine(JSON.parse(line) as Record<string, unknown>));
}

export function emit(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}
