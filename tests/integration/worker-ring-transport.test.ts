/**
 * Real workers of one host (`ringtrain local`, child processes, port 0) form their ring over the
 * ring listeners' local (Unix socket) endpoints and read their predecessor into the fusion
 * buffer's arena: the fast paths the all-reduce benches measure are the ones training takes.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

describe('worker ring transport', () => {
  it('links local workers over Unix sockets, reading into the arena', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ringtrain-transport-'));
    const r = await runCli(['local', '--workers', '3', '--job', 'regression-mlp', '--epochs', '1', '--seed', '5', '--json', '--output', out, '--log-level', 'warn', '--worker-log-level', 'debug']);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const formed = r.stderr.split('\n').filter((l) => l.includes('"msg":"ring formed"')).map((l) => JSON.parse(l) as { rank: number; successorLocal: boolean; predReads: unknown });
    expect(formed.map((f) => f.rank).sort()).toEqual([0, 1, 2]);
    for (const f of formed) expect([f.successorLocal, f.predReads]).toEqual([true, { fixed: true, inArena: true }]);
  });
});
