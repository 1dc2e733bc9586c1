/**
 * Elastic membership with real processes: separate coordinator and worker processes, as on
 * several machines. A worker killed with SIGKILL mid-epoch costs at most the step in flight; a
 * worker started mid-run joins at a step boundary; a coordinator killed and restarted with
 * --resume takes its workers back. Every run must complete with identical replicas and every
 * sample trained exactly once per epoch.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, type LiveProcess } from '../helpers/cli.js';
import { freePort } from '../../bench/cli-proc.js';

const live: LiveProcess[] = [];
afterEach(() => {
  for (const p of live.splice(0)) p.child.kill('SIGKILL');
});

function start(args: string[]): LiveProcess {
  const p = startCli(args);
  live.push(p);
  return p;
}

function worker(port: number | string, extra: string[] = []): LiveProcess {
  return start(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--log-level', 'info', ...extra]);
}

function summary(p: LiveProcess, stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no summary on stdout:\n${stdout}\n${p.stderr().slice(-4000)}`);
  }
}

function stdoutOf(p: LiveProcess): () => string {
  let out = '';
  p.child.stdout?.removeAllListeners('data');
  p.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return () => out;
}

function expectCleanRun(s: Record<string, unknown>, workers: number, epochs: number): void {
  expect(s['workers']).toBe(workers);
  const sums = s['replicaChecksums'] as string[];
  expect(sums).toHaveLength(workers);
  expect(new Set(sums).size).toBe(1);
  expect(s['samplesPerEpoch']).toEqual(Array.from({ length: epochs }, () => 8000));
  expect(s['duplicateSamples']).toBe(0);
  expect(s['missingSamples']).toBe(0);
  expect(s['committedStepsLost']).toBe(0);
}

/** A coordinator of 2–3 workers for one epoch of mnist-mlp, and the port it listens on. */
async function elasticCoordinator(out: string): Promise<{ coord: LiveProcess; stdout: () => string; port: string }> {
  const coord = start(['coordinator', '--port', '0', '--min-workers', '2', '--max-workers', '3', '--job', 'mnist-mlp', '--epochs', '1', '--json', '--output', out, '--log-level', 'debug']);
  const stdout = stdoutOf(coord);
  const { port } = await coord.waitForLog({ msg: 'coordinator listening' });
  return { coord, stdout, port: String(port) };
}

/** Waits for a coordinator to exit cleanly and returns its summary. */
async function finished(coord: LiveProcess, stdout: () => string): Promise<Record<string, unknown>> {
  const exit = await coord.exited;
  expect(exit.code, coord.stderr().slice(-3000)).toBe(0);
  return summary(coord, stdout());
}

describe('elastic membership', () => {
  it('kill -9 of one worker mid-epoch in a 3-worker run: the run completes with 2 identical replicas', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-kill-')), 'run');
    const { coord, stdout, port } = await elasticCoordinator(out);
    const workers = [0, 1, 2].map(() => worker(port));
    await coord.waitForLog({ msg: 'ring formed; training', workers: 3 });
    // Mid-epoch: step 20 of the 42 steps an epoch takes with 3 workers.
    await coord.waitForLog({ msg: 'step committed', step: 20, epoch: 0 }, 60_000);
    workers[1]!.child.kill('SIGKILL');
    await coord.waitForLog({ msg: 'ring formed; training', generation: 2, workers: 2 }, 30_000);
    const s = await finished(coord, stdout);
    expectCleanRun(s, 2, 1);
    expect(s['generations']).toBe(2);
    expect(s['testAccuracy']).toBeGreaterThan(0.8);
  });

  it('a worker started mid-run joins at a step boundary and ends identical to the others', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-join-')), 'run');
    const { coord, stdout, port } = await elasticCoordinator(out);
    worker(port);
    worker(port);
    await coord.waitForLog({ msg: 'step committed', step: 10, epoch: 0 }, 60_000);
    worker(port);
    await coord.waitForLog({ msg: 'ring formed; training', generation: 2, workers: 3 }, 30_000);
    const s = await finished(coord, stdout);
    expectCleanRun(s, 3, 1);
    expect(s['generations']).toBe(2);
  });

  it('coordinator killed and restarted with --resume: the workers come back and the run completes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-restart-')), 'run');
    const port = await freePort();
    const common = ['--port', String(port), '--min-workers', '2', '--job', 'mnist-mlp', '--epochs', '1', '--json', '--checkpoint-every', '10', '--log-level', 'debug'];
    const first = start(['coordinator', ...common, '--output', out]);
    const workers = [worker(port), worker(port)];
    await first.waitForLog({ msg: 'step committed', step: 25, epoch: 0 }, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = start(['coordinator', ...common, '--resume', out]);
    const stdout = stdoutOf(second);
    await second.waitFor(/resuming from checkpoint/);
    const exit = await second.exited;
    expect(exit.code, second.stderr().slice(-3000)).toBe(0);
    const s = summary(second, stdout());
    expect(s['workers']).toBe(2);
    expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
    expect(s['resumedFromStep']).toBeGreaterThanOrEqual(20);
    // 8000 samples / (2 workers x 32) = 125 steps, whoever coordinated them.
    expect(s['steps']).toBe(125);
    expect(s['samplesPerEpoch']).toEqual([8000]);
    expect(s['duplicateSamples']).toBe(0);
    // The workers survived the coordinator: same processes, reconnected with their state.
    for (const w of workers) expect(w.stderr()).toMatch(/coordinator lost; keeping state and reconnecting/);
    expect((await Promise.all(workers.map((w) => w.exited))).map((e) => e.code)).toEqual([0, 0]);
  });
});
