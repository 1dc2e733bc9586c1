/**
 * A run that cannot learn fails instead of exiting 0: with a learning rate of 1e30 every update
 * after the first is non-finite and skipped on every rank, and more than --max-nonfinite-skips of
 * them in a row end the run with RT_NON_FINITE and a non-zero exit.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('a run that cannot learn', () => {
  it('fails with RT_NON_FINITE after --max-nonfinite-skips consecutive skipped steps', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-nolearn-')), 'run');
    const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--lr', '1e30', '--max-nonfinite-skips', '5', '--json', '--no-http', '--log-level', 'error', '--output', out]);
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    expect(r.stdout.trim()).toBe('');
    expect(r.stderr).toMatch(/ringtrain: error RT_NON_FINITE: 6 steps in a row \(up to step \d+\) had a non-finite loss or gradient and were skipped \(--max-nonfinite-skips 5\)/);
  });
});
