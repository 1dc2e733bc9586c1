/**
 * Folders are checked before any worker starts: an --output that cannot be written (under a file,
 * or in a folder the user may not write) and a --resume that names no run's output folder fail
 * at once with RT_BAD_CONFIG and exit 2, and `local` never spawns a worker for them.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-paths-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LOCAL = ['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '1', '--log-level', 'info'];

function refusedEarly(r: { code: number | null; stderr: string }, message: RegExp): void {
  expect(r.code, r.stderr.slice(-2000)).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/RT_INTERNAL|coordinator listening|worker joined/);
}

describe('early path checks', () => {
  it('--output under a regular file', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    refusedEarly(await runCli([...LOCAL, '--output', join(dir, 'file', 'out')]), /RT_BAD_CONFIG: --output \S+: \S+file is a file, not a folder/);
  });

  it('--resume of a missing folder, of a file, and of a folder without a checkpoint', async () => {
    refusedEarly(await runCli([...LOCAL, '--resume', join(dir, 'missing')]), /RT_BAD_CONFIG: --resume \S+missing does not exist/);
    refusedEarly(await runCli([...LOCAL, '--resume', join(dir, 'file')]), /RT_BAD_CONFIG: --resume \S+file is a file/);
    mkdirSync(join(dir, 'empty'));
    refusedEarly(await runCli([...LOCAL, '--resume', join(dir, 'empty')]), /RT_BAD_CONFIG: --resume \S+empty holds no checkpoint.bin/);
  });

  it('--output in a folder this user cannot write (as the CPU image runs as node into a root-owned volume)', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    // As root, run as nobody (root may write anywhere); as anyone else, the read-only mode suffices.
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, [CLI, ...LOCAL, '--output', join(locked, 'run')], {
      encoding: 'utf8', timeout: 60_000, ...(asRoot ? { uid: 65534, gid: 65534, cwd: dir } : {}), env: { ...process.env, HOME: dir },
    });
    refusedEarly({ code: r.status, stderr: r.stderr }, /RT_BAD_CONFIG: --output \S+locked\/run: the folder \S+locked it would be created in is not writable by this user \(uid \d+\): EACCES/);
  });
});
