/**
 * Separate coordinator and worker processes, as on several machines. When a worker dies mid-run
 * every other process must stop promptly with a clear error (here: RT_WORKER_LOST), never hang.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../helpers/cli.js';

describe('separate processes', () => {
  it('a worker killed mid-run stops every rank with RT_WORKER_LOST, without hanging', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-lost-')), 'run');
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '3', '--job', 'mnist-mlp', '--epochs', '20', '--output', out, '--log-level', 'info']);
    const [, port] = await coord.waitFor(/"port":(\d+).*coordinator listening/);
    const workers = [0, 1, 2].map(() => startCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--log-level', 'info']));
    await coord.waitFor(/ring formed; training/);
    await coord.waitFor(/"epoch":1,/, 60_000);
    const killedAt = Date.now();
    workers[1]!.child.kill('SIGKILL');
    const c = await coord.exited;
    expect(c.code).toBe(1);
    expect(coord.stderr()).toMatch(/ringtrain: error RT_WORKER_LOST: worker rank \d .* was lost/);
    const others = await Promise.all([workers[0]!.exited, workers[2]!.exited]);
    expect(others.map((o) => o.code)).toEqual([1, 1]);
    // Bounded by socket close detection, far below any step timeout.
    expect(Date.now() - killedAt).toBeLessThan(15_000);
  });
});
