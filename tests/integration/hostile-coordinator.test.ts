/**
 * Workers outlive what happens on the coordinator's side, with real processes: a squatter on the
 * coordinator's port while it is down (it does not know the token and tells the workers to go
 * away) and a coordinator frozen (SIGSTOP) for longer than --step-timeout. In both, the workers
 * keep their state and reconnect, and the run ends with the weights of an undisturbed run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, summaryOf, type LiveProcess } from '../helpers/cli.js';
import { startDisturbedRun } from '../helpers/disturbed-run.js';
import { freePort } from '../../bench/cli-proc.js';
import { squat } from '../helpers/squatter.js';

const TOKEN = 'hostile-coordinator-token-1';
const TRAIN = ['--job', 'regression-mlp', '--epochs', '12', '--seed', '9'];
const live: LiveProcess[] = [];
afterEach(() => {
  for (const p of live.splice(0)) p.child.kill('SIGKILL');
});

function start(args: string[]): LiveProcess {
  const p = startCli(args, { RINGTRAIN_TOKEN: TOKEN });
  live.push(p);
  return p;
}

function lastJson(p: LiveProcess): Record<string, unknown> {
  const line = p.stdout().trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no summary on stdout:\n${p.stdout()}\n${p.stderr().slice(-4000)}`);
  }
}

describe('hostile coordinator side', () => {
  it('a squatter on the coordinator port while it is down ends no worker; the resumed coordinator finds them', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-squat-')), 'run');
    const port = await freePort();
    const baseline = runCli(['local', '--workers', '2', ...TRAIN, '--json', '--log-level', 'warn', '--output', join(out, '..', 'base')], { env: { RINGTRAIN_TOKEN: TOKEN } });
    const common = ['--port', String(port), '--min-workers', '2', ...TRAIN, '--json', '--checkpoint-every', '20', '--log-level', 'debug'];
    const first = start(['coordinator', ...common, '--output', out]);
    const url = `ws://127.0.0.1:${port}`;
    const workers = [0, 1].map(() => start(['worker', '--coordinator', url, '--ring-host', '127.0.0.1', '--reconnect-timeout', '30000', '--log-level', 'debug']));
    await first.waitForLog({ msg: 'step committed', step: 60, epoch: 1 }, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const squatter = await squat(port);
    // Each trick is met by some worker (the squatter rotates its tricks over all connections, so
    // with two workers alternating one of them may never see a given trick); both must outlive all.
    // The squatter's error lands during the connect (an unverified refusal, retried) or after it
    // (the connection dropped, reconnecting), depending on timing: either way the worker goes on.
    await Promise.any(workers.map((w) => w.waitFor(/squatter says go away.*(reconnecting|retrying)/, 15_000)));
    await Promise.any(workers.map((w) => w.waitFor(/could not prove this worker's token.*reconnecting/, 15_000)));
    await Promise.any(workers.map((w) => w.waitForLog({ code: 'RT_TLS', msg: "unverified refusal at the coordinator's port; retrying" }, 15_000)));
    await squatter.close();
    const second = start(['coordinator', ...common, '--resume', out]);
    const exit = await second.exited;
    expect(exit.code, second.stderr().slice(-3000)).toBe(0);
    const s = lastJson(second);
    expect((await Promise.all(workers.map((w) => w.exited))).map((e) => e.code), workers[0]!.stderr().slice(-2000)).toEqual([0, 0]);
    expect(squatter.tricks.every((n) => n >= 1)).toBe(true);
    expect(s['workers']).toBe(2);
    expect(s['samplesPerEpoch']).toEqual(Array.from({ length: 12 }, () => 3200));
    expect(s['replicaChecksums']).toEqual(summaryOf(await baseline)['replicaChecksums']);
  });

  it('a coordinator frozen longer than --step-timeout finds its workers when it resumes', async () => {
    const run = await startDisturbedRun(['local', '--workers', '2', ...TRAIN, '--step-timeout', '1500', '--json'], TOKEN);
    live.push(run.live);
    // Mid-run: about a tenth of the 600 steps.
    await new Promise((r) => setTimeout(r, 800));
    run.live.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_000));
    run.live.child.kill('SIGCONT');
    const exit = await run.live.exited;
    expect(exit.code, run.live.stderr().slice(-3000)).toBe(0);
    const s = lastJson(run.live);
    if (process.env['HOSTILE_DUMP']) (await import('node:fs')).writeFileSync(process.env['HOSTILE_DUMP'], run.live.stderr());
    expect(run.live.stderr()).toMatch(/coordinator lost; keeping state and reconnecting/);
    expect(s['samplesPerEpoch']).toEqual(Array.from({ length: 12 }, () => 3200));
    expect(s['committedStepsLost']).toBe(0);
    expect(s['replicaChecksums']).toEqual(summaryOf(await run.baseline)['replicaChecksums']);
  });
});
