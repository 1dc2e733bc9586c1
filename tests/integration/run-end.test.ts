/**
 * The end of a run as a person meets it: the human summary on stdout (without --json),
 * `--version`, and Ctrl-C sent to the whole process group as a terminal does: the first saves the
 * newest weights every rank agreed on as the model, a second exits at once.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, runCli, summaryOf } from '../helpers/cli.js';
import { startLiveRun } from '../helpers/live-run.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-end-'));

/** `ringtrain local` in its own process group, interrupted like a terminal's Ctrl-C (`signals` SIGINTs to the group). */
async function interrupted(out: string, signals: number, freezeWorkers = false): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'local', '--workers', '2', '--job', 'mnist-mlp', '--epochs', '20', '--output', out, '--log-level', 'info'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const training = new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (/ring formed; training/.test(stderr)) resolve();
  }));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await training;
  await new Promise((r) => setTimeout(r, 1_500));
  // Frozen workers cannot hand over their states, so the run is still saving when a second
  // signal comes, however fast this machine would otherwise finish the save.
  const workers = freezeWorkers ? [...stderr.matchAll(/"workerPid":(\d+)/g)].map((m) => Number(m[1])) : [];
  if (freezeWorkers) expect(workers.length).toBeGreaterThan(0);
  for (const pid of workers) process.kill(pid, 'SIGSTOP');
  for (let i = 0; i < signals; i++) {
    process.kill(-child.pid!, 'SIGINT');
    await new Promise((r) => setTimeout(r, 50));
  }
  const code = await exited;
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already ended with the run.
    }
  }
  return { code, stderr };
}

describe('the end of a run', () => {
  it('prints a human summary without --json, and --version', async () => {
    const out = join(dir, 'human');
    const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '1', '--output', out, '--log-level', 'warn']);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { steps: number; testLoss: number };
    expect(r.stdout).toContain(`regression-mlp: done — 1 epoch, ${summary.steps} steps on 2 workers`);
    expect(r.stdout).toContain(`test loss ${summary.testLoss.toPrecision(4)}`);
    expect(r.stdout).toMatch(/[\d,]+ samples\/s {3}wall time [\d.]+ s/);
    expect(r.stdout).toContain(`in ${out}`);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);
  });

  it('Ctrl-C saves the newest agreed weights as the model; the workers outlive the signal to report them', async () => {
    const out = join(dir, 'ctrl-c');
    const r = await interrupted(out, 1);
    expect(r.code).toBe(1);
    const m = r.stderr.match(/ringtrain: error RT_ABORTED: interrupted: the model of step (\d+) \(epoch \d+\) is saved in (.*)/);
    expect(m, r.stderr.slice(-3000)).not.toBeNull();
    // The survivors' state, newer than any checkpoint (every 50 steps): collected after the signal.
    expect(r.stderr).toMatch(/"from":"most advanced survivor"/);
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(m![2]).toBe(out);
    // Said once, by the coordinator; its workers do not repeat it.
    expect(r.stderr.match(/ringtrain: error/g)).toHaveLength(1);
    const model = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { weightsManifest: unknown[] };
    expect(model.weightsManifest.length).toBe(1);
    expect(existsSync(join(out, 'weights.bin'))).toBe(true);
  });

  it('a second Ctrl-C exits at once with 130', async () => {
    const r = await interrupted(join(dir, 'twice'), 2, true);
    // 130 comes only from the second signal's path; the first alone ends with 1 (RT_ABORTED).
    expect(r.code).toBe(130);
  });

  it('--linger keeps the dashboard up after the summary until its time is up or Ctrl-C', async () => {
    const run = startLiveRun(['local', '--workers', '1', '--job', 'regression-mlp', '--epochs', '1', '--json', '--http-port', '0', '--linger', '120', '--output', join(dir, 'linger')]);
    const url = await run.url;
    let stdout = '';
    await new Promise<void>((resolve) => run.child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.endsWith('\n')) resolve();
    }));
    expect(JSON.parse(stdout) as { event: string }).toMatchObject({ event: 'summary' });
    const status = (await (await fetch(`${url}status`)).json()) as { state: string; hyper: { workers: number } };
    expect(status.state).toBe('done');
    expect(status.hyper.workers).toBe(1);
    expect((await fetch(url)).status).toBe(200);
    run.child.kill('SIGINT');
    expect(summaryOf(await run.done)['event']).toBe('summary');
  });
});
