/**
 * Starts the built CLI as a child process and lets a test act while the run is live: resolves
 * the HTTP endpoint's URL from the coordinator's "dashboard" log line, then the final result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, type CliResult } from './cli.js';

export interface LiveRun {
  /** Base URL of the dashboard (ends with '/'). */
  url: Promise<string>;
  done: Promise<CliResult>;
  child: ChildProcess;
}

export function startLiveRun(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): LiveRun {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let pending = '';
  let gotUrl: (u: string) => void = () => undefined;
  let noUrl: (e: Error) => void = () => undefined;
  const url = new Promise<string>((resolve, reject) => {
    gotUrl = resolve;
    noUrl = reject;
  });
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as { msg?: string; url?: string };
      if (rec.msg === 'dashboard' && typeof rec.url === 'string') gotUrl(rec.url);
    }
  });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ringtrain ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      noUrl(new Error(`the run ended (code ${code}) before announcing its dashboard\n${stderr.slice(-4000)}`));
      resolve({ code, signal, stdout, stderr });
    });
  });
  done.catch(() => undefined);
  url.catch(() => undefined);
  return { url, done, child };
}
