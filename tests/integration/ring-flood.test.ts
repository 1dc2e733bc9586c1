/**
 * A stranger floods the workers' ring ports while the ring forms: 32 silent sockets per source
 * address per port, renewed every 150 ms, from the peers' own address (127.0.0.1) and from
 * another one (127.0.0.2). The ring must still form and the run finish with the weights of an
 * undisturbed run, and the workers' logs must stay small (refusals are logged once per source
 * and interval, not once each).
 */
import { describe, expect, it } from 'vitest';
import { afterEach } from 'vitest';
import { findLog, runCli, startCli, summaryOf, type LiveProcess } from '../helpers/cli.js';
import { flood } from '../../bench/flood.js';

const TOKEN = 'ring-flood-token-777';
const TRAIN = ['--job', 'regression-mlp', '--epochs', '4', '--seed', '11'];
const procs: LiveProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill('SIGKILL');
});

function start(args: string[]): LiveProcess {
  const p = startCli(args, { RINGTRAIN_TOKEN: TOKEN });
  procs.push(p);
  return p;
}

describe('ring-port flood', () => {
  it('silent sockets from strangers on every ring port neither stop the ring from forming nor flood the logs', async () => {
    const baseline = runCli(['local', '--workers', '2', ...TRAIN, '--json', '--log-level', 'warn', '--no-http'], { env: { RINGTRAIN_TOKEN: TOKEN } });
    const coord = start(['coordinator', '--port', '0', '--min-workers', '2', ...TRAIN, '--json', '--log-level', 'info', '--no-http']);
    const port = String((await coord.waitForLog({ msg: 'coordinator listening' }))['port']);
    const rings: string[] = [];
    const f = flood(() => rings);
    const workers = [0, 1].map(() => start(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--log-level', 'info']));
    // Each worker's ring port, as the coordinator hears of it: flooded from then on, before the
    // ring forms (the first generation waits a second for more workers).
    for (const n of [1, 2]) {
      const joined = await coord.waitForLog({ msg: 'worker joined', appliedSteps: -1, waiting: n }, 30_000);
      rings.push(`${/^ws:\/\/127\.0\.0\.1:\d+/.exec(String(joined['ring']))![0]}/`);
    }
    const exit = await coord.exited;
    f.stop();
    expect(exit.code, coord.stderr().slice(-3000)).toBe(0);
    const s = JSON.parse(coord.stdout().trim().split('\n').pop()!) as Record<string, unknown>;
    expect(s['replicaChecksums']).toEqual(summaryOf(await baseline)['replicaChecksums']);
    expect(f.opened).toBeGreaterThan(128);
    for (const w of workers) {
      expect(w.stderr().length).toBeLessThan(200_000);
      expect(findLog(w.stderr(), { remote: '127.0.0.2', msg: 'refused ring connection' }), w.stderr().slice(-3000)).toBeDefined();
    }
  });
});
