/**
 * The model fingerprint covers the architecture, not only weight shapes: a rank whose model has
 * the same shapes but another activation (relu for tanh) is refused at rendezvous with
 * RT_MODEL_MISMATCH, instead of training silently on two different functions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';

const fixture = (name: string): string => resolve('tests/fixtures', name);

describe('architecture fingerprint', () => {
  it('refuses a rank whose model differs only in an activation', async () => {
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '2', '--no-http', '--job', fixture('tiny-job.mjs'), '--output', join(mkdtempSync(join(tmpdir(), 'rt-arch-')), 'run')]);
    const { port } = await coord.waitForLog({ msg: 'coordinator listening' });
    const worker = (job: string) => startCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--job', fixture(job)]);
    const same = worker('tiny-job.mjs');
    await coord.waitFor(/worker joined/);
    const relu = worker('tiny-job-relu.mjs');
    const exit = await coord.exited;
    expect(exit.code, coord.stderr().slice(-2000)).toBe(1);
    expect(coord.stderr()).toMatch(/ringtrain: error RT_MODEL_MISMATCH: rank 1's model differs from rank 0's \(layer classes or configuration \(activation, units, initializers\): architecture [0-9a-f]{16} vs [0-9a-f]{16}/);
    expect((await Promise.all([same.exited, relu.exited])).map((e) => e.code)).toEqual([1, 1]);
  });
});
