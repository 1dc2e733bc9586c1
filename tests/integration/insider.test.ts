/**
 * Insiders: workers that hold the token but send what an honest worker never does (the real
 * worker with its control client patched, tests/fixtures/insider-worker.mjs). A duplicate step
 * report is dropped, an early one evicts its sender, and a state claiming steps the run never
 * planned (with poisoned weights) is refused and evicts its sender; the run goes on with the
 * others and ends trained, every sample once per epoch.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findLog, liveProcess, startCli, type LiveProcess } from '../helpers/cli.js';

const TOKEN = 'insider-test-token-42';
const INSIDER = fileURLToPath(new URL('../fixtures/insider-worker.mjs', import.meta.url));
const TRAIN = ['--job', 'regression-mlp', '--epochs', '8', '--seed', '3'];
const procs: LiveProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill('SIGKILL');
});

function coordinator(): LiveProcess {
  const p = startCli(['coordinator', '--port', '0', '--min-workers', '1', '--max-workers', '3', '--rendezvous-grace', '10000', ...TRAIN, '--json', '--log-level', 'info'], { RINGTRAIN_TOKEN: TOKEN });
  procs.push(p);
  return p;
}

function worker(port: string, insider: string | null): LiveProcess {
  const args = ['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--log-level', 'warn'];
  if (insider === null) {
    const p = startCli(args, { RINGTRAIN_TOKEN: TOKEN });
    procs.push(p);
    return p;
  }
  // The same LiveProcess shape as startCli, for the patched worker.
  const p = liveProcess(spawn(process.execPath, [INSIDER, ...args], { env: { ...process.env, RINGTRAIN_TOKEN: TOKEN, INSIDER: insider }, stdio: ['ignore', 'pipe', 'pipe'] }));
  procs.push(p);
  return p;
}

function summaryOf(p: LiveProcess): Record<string, unknown> {
  const line = p.stdout().trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no summary:\n${p.stdout()}\n${p.stderr().slice(-4000)}`);
  }
}

function expectTrained(s: Record<string, unknown>): void {
  expect(s['samplesPerEpoch']).toEqual(Array.from({ length: 8 }, () => 3200));
  expect(s['duplicateSamples']).toBe(0);
  expect(s['missingSamples']).toBe(0);
  expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
  // An undisturbed run of this job ends near 0.01; a poisoned one at 1e28.
  expect(s['finalLoss']).toBeLessThan(0.1);
}

describe('insiders', () => {
  it('a duplicate step report is dropped; an early one evicts its sender; the run goes on', async () => {
    const coord = coordinator();
    const port = String((await coord.waitForLog({ msg: 'coordinator listening' }))['port']);
    worker(port, null);
    await coord.waitFor(/worker joined/);
    worker(port, 'dup-report');
    worker(port, 'early-report');
    const exit = await coord.exited;
    expect(exit.code, coord.stderr().slice(-3000)).toBe(0);
    const log = coord.stderr();
    const warnings = log.split('\n').filter((l) => /warn|"level":40/.test(l)).join('\n').slice(-3000);
    const dup = findLog(log, { why: /^rank \d reported step \d+ again \(its next is \d+\)$/, msg: 'step report dropped' });
    expect(dup, warnings).toBeDefined();
    const [, step, next] = /step (\d+) again \(its next is (\d+)\)/.exec(String(dup!['why']))!;
    expect(Number(next)).toBe(Number(step) + 1);
    const early = findLog(log, { why: /^rank \d reported step \d+ before step \d+$/, msg: /evicting that rank/ });
    expect(early, warnings).toBeDefined();
    const [, ahead, want] = /step (\d+) before step (\d+)/.exec(String(early!['why']))!;
    expect(Number(ahead)).toBe(Number(want) + 1);
    expect(log).not.toMatch(/RT_REPLICA_DIVERGED|uncaught|Unhandled/i);
    expectTrained(summaryOf(coord));
  });

  it('a survivor offering a state the run never planned, with poisoned weights, is refused and evicted', async () => {
    const coord = coordinator();
    const port = String((await coord.waitForLog({ msg: 'coordinator listening' }))['port']);
    const honest = [worker(port, null)];
    await coord.waitFor(/worker joined/);
    honest.push(worker(port, null));
    await coord.waitForLog({ msg: 'worker joined', waiting: 2 });
    worker(port, 'bad-state');
    // Two epochs in (rank 0 sends a state at each epoch end), one honest worker dies: the
    // survivors report their states, and the insider's claims 100000 more steps.
    await coord.waitForLog({ msg: 'epoch done', epoch: 2, of: 8 }, 60_000);
    honest[1]!.child.kill('SIGKILL');
    const exit = await coord.exited;
    expect(exit.code, coord.stderr().slice(-3000)).toBe(0);
    const log = coord.stderr();
    expect(findLog(log, { why: /^step \d+ is beyond the \d+ steps this run has planned$/, msg: /state refused; evicting it/ }), log.slice(-3000)).toBeDefined();
    const s = summaryOf(coord);
    expectTrained(s);
    expect(s['steps']).toBeLessThan(1000);
  });
});
