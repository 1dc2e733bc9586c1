/**
 * Bad input at the command line: each case exits non-zero with one clear line naming a stable
 * error code, before any socket opens (or, for an unreachable coordinator, after bounded retries).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { freePort } from '../../bench/cli-proc.js';

function errorLines(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('ringtrain: error'));
}


describe('CLI errors', () => {
  it('unknown job', async () => {
    const r = await runCli(['local', '--workers', '2', '--job', 'no-such-job']);
    expect(r.code).toBe(2);
    expect(errorLines(r)).toEqual([expect.stringContaining('RT_UNKNOWN_JOB: unknown job "no-such-job"')]);
    expect(r.stdout).toBe('');
  });

  it('bad values and unknown flags', async () => {
    const cases: [args: string[], message: string][] = [
      [['coordinator', '--epochs', '-1', '--port', '0'], 'RT_BAD_CONFIG: --epochs must be an integer'],
      [['local', '--lr', 'fast'], 'RT_BAD_CONFIG: --lr'],
      [['local', '--accumulate', '0'], 'RT_BAD_CONFIG: --accumulate must be an integer'],
      [['local', '--compress', 'zip'], 'RT_BAD_CONFIG'],
      [['local', '--wrokers', '3'], 'RT_BAD_CONFIG: Unknown argument'],
      [['worker', '--coordinator', 'http://x:1'], '--coordinator must use ws:// or wss://'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorLines(r)).toEqual([expect.stringContaining(message)]);
    }
  });

  it('malformed config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-cfg-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"epochs": 3,, }');
    const r = await runCli(['local', '--config', bad]);
    expect(r.code).toBe(2);
    expect(errorLines(r)).toEqual([expect.stringMatching(/RT_BAD_CONFIG: config file .*bad\.json is not valid JSON/)]);
    const wrongType = join(dir, 'wrong.json');
    writeFileSync(wrongType, '{"epochs": "many"}');
    const r2 = await runCli(['local', '--config', wrongType]);
    expect(r2.code).toBe(2);
    expect(errorLines(r2)).toEqual([expect.stringContaining('RT_BAD_CONFIG: --epochs must be an integer')]);
  });

  it('unreachable coordinator: the worker retries with backoff, then exits naming the address', async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--connect-timeout', '1500', '--ring-host', '127.0.0.1', '--log-level', 'debug']);
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    expect(errorLines(r)).toEqual([expect.stringContaining(`RT_CONNECT_FAILED: could not reach coordinator at ws://127.0.0.1:${port}`)]);
    // It really retried (several attempts, logged at debug) and respected the deadline.
    expect(r.stderr.match(/retrying/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(elapsed).toBeGreaterThanOrEqual(1400);
  });

  it('--help lists every command and the training flags', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['coordinator', 'worker', 'local']) expect(top.stdout).toContain(c);
    const local = await runCli(['local', '--help']);
    for (const f of ['--workers', '--job', '--epochs', '--batch-size', '--lr', '--seed', '--output', '--json', '--port', '--backend']) expect(local.stdout).toContain(f);
    const worker = await runCli(['worker', '--help']);
    for (const f of ['--coordinator', '--ring-host', '--ring-port', '--advertise', '--backend', '--connect-timeout']) expect(worker.stdout).toContain(f);
  });
});
