/**
 * Cross-rank consistency and the job-module rule: a rank built with a different model is refused
 * at rendezvous with both ranks named; a job path named by the coordinator is never loaded by a
 * worker; a NaN loss is skipped identically on every rank (or aborts the run when asked).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findLog, runCli, startCli, summaryOf } from '../helpers/cli.js';

const fixture = (name: string): string => resolve('tests/fixtures', name);
const tmp = (p: string): string => mkdtempSync(join(tmpdir(), p));

describe('consistency across ranks', () => {
  it('refuses a rank with a different model at rendezvous, naming both ranks and the first difference', async () => {
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '2', '--job', fixture('tiny-job.mjs'), '--output', join(tmp('rt-mm-'), 'run')]);
    const { port } = await coord.waitForLog({ msg: 'coordinator listening' });
    const worker = (job: string) => startCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--job', fixture(job)]);
    const same = worker('tiny-job.mjs');
    await coord.waitFor(/worker joined/);
    const wide = worker('tiny-job-wide.mjs');
    const exit = await coord.exited;
    expect(exit.code).toBe(1);
    expect(coord.stderr()).toContain("ringtrain: error RT_MODEL_MISMATCH: rank 1's model differs from rank 0's (weight 0: dense_Dense/kernel [4,8] float32 vs dense_Dense/kernel [4,9] float32 for rank 0 vs rank 1)");
    expect((await Promise.all([same.exited, wide.exited])).map((e) => e.code)).toEqual([1, 1]);
    expect(wide.stderr()).toContain('RT_MODEL_MISMATCH');
  });

  it('never loads a job path received from the network', async () => {
    const marker = join(tmp('rt-marker-'), 'pids');
    const env = { RT_MARKER: marker };
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '1', '--job', fixture('marker-job.mjs'), '--output', join(tmp('rt-path-'), 'run')], env);
    const { port } = await coord.waitForLog({ msg: 'coordinator listening' });
    const w = await runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1'], { env });
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/RT_JOB_REQUIRED: coordinator: this run's job is the module .*marker-job\.mjs; start this worker with --job/);
    // The worker is refused alone; the coordinator keeps waiting for workers that have the job.
    await coord.waitFor(/worker refused: started without --job/);
    coord.child.kill('SIGKILL');
    await coord.exited;
    // Only the coordinator, which was given the path on its own command line, imported it.
    expect(existsSync(marker)).toBe(true);
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toEqual([String(coord.child.pid)]);
  });
});

describe('non-finite values', () => {
  it('skips the poisoned step on every rank and counts it', async () => {
    const r = await runCli(['local', '--workers', '2', '--job', fixture('nan-job.mjs'), '--epochs', '2', '--json', '--output', join(tmp('rt-nan-'), 'run')]);
    const s = summaryOf(r);
    expect(s['nonFiniteSkips']).toBe(2); // one poisoned sample, seen once per epoch
    expect(Number.isFinite(s['finalLoss'])).toBe(true);
    const sums = s['replicaChecksums'] as string[];
    expect(new Set(sums).size).toBe(1);
    expect(findLog(r.stderr, { code: 'RT_NON_FINITE', msg: /every rank skipped this update/ }), r.stderr.slice(-3000)).toBeDefined();
  });

  it('aborts every rank with RT_NON_FINITE under --on-nonfinite abort', async () => {
    const r = await runCli(['local', '--workers', '2', '--job', fixture('nan-job.mjs'), '--epochs', '1', '--on-nonfinite', 'abort', '--json', '--output', join(tmp('rt-nan-abort-'), 'run')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ringtrain: error RT_NON_FINITE: rank \d failed: step \d+: the all-reduced loss or gradient is not finite/);
  });
});
