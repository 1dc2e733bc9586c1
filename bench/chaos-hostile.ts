/**
 * Hostile chaos (`npm run chaos -- --hostile`): one token-protected run (a coordinator and 3
 * worker processes) attacked three ways in turn, next to a fault-free run with the same seed:
 *
 *   ring flood   32 silent sockets per source (127.0.0.1, the peers' own address, and 127.0.0.2)
 *                on every worker's ring port, renewed every 150 ms, for the whole run
 *   freeze       the coordinator SIGSTOPped for longer than --step-timeout, then SIGCONT
 *   squatter     the coordinator SIGKILLed; a process without the token answers on its port
 *                (an error, a challenge then an error, a wrong welcome, HTTP 426) for a few seconds; then
 *                the coordinator is restarted with --resume
 *
 * Prints one JSON line of what held: every worker process alive to the end, the run's exit,
 * its weights against the fault-free run's, samples per epoch, and the workers' log sizes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, logLines, runCli, sleep, summaryOf, type Proc } from './cli-proc.js';
import { flood } from './flood.js';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeMessage } from '../dist/shared/protocol/codec.js';
import { newNonce } from '../dist/shared/protocol/auth.js';
import { PROTOCOL_VERSION } from '../dist/shared/base/constants.js';

const TOKEN = `hostile-chaos-${process.pid}-token`;
const STEP_TIMEOUT_MS = 2_000;
const run = (args: string[]): Proc => runCli(args, { RINGTRAIN_TOKEN: TOKEN });

/** Waits for the first JSON log line of `p` that `test` accepts (fields by name, any order). */
async function untilLog(p: Proc, test: (r: Record<string, unknown>) => boolean, what: string, deadline: number): Promise<Record<string, unknown>> {
  for (;;) {
    const hit = logLines(p.err).find(test);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if (p.child.exitCode !== null) throw new Error(`process ended while waiting for ${what}`);
    await sleep(50);
  }
}

async function until(p: Proc, re: RegExp, deadline: number): Promise<RegExpMatchArray> {
  for (;;) {
    const m = p.err.match(re);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}`);
    if (p.child.exitCode !== null) throw new Error(`process ended while waiting for ${re}`);
    await sleep(50);
  }
}

/** A token-less process on the coordinator's port, cycling through four ways to say "go away". */
async function squat(port: number): Promise<{ connections: number; close(): Promise<void> }> {
  const s = { connections: 0, close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }) };
  // Every fourth connection gets HTTP 426, what a TLS endpoint answers plain ws://.
  const wss = new WebSocketServer({ host: '127.0.0.1', port, verifyClient: (_info, cb) => (s.connections % 4 === 3 ? (s.connections++, cb(false, 426)) : cb(true)) });
  await new Promise((r) => wss.once('listening', r));
  const goAway = encodeMessage({ type: 'error', code: 'RT_AUTH_FAILED', message: 'squatter says go away' });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    const trick = s.connections++ % 4;
    if (trick === 0) return ws.send(goAway);
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: newNonce(), auth: true }));
    ws.on('message', () => ws.send(trick === 1 ? goAway : encodeMessage({ type: 'welcome', proof: Buffer.alloc(32, 7) })));
  });
  return s;
}

export async function hostile(): Promise<void> {
  const started = Date.now();
  const deadline = started + 600_000;
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-hostile-'));
  const train = ['--job', 'regression-mlp', '--epochs', '40', '--seed', '21', '--json', '--no-http'];
  const reference = run(['local', '--workers', '3', ...train, '--output', join(dir, 'reference'), '--log-level', 'warn']);
  const port = await freePort();
  const coordArgs = ['coordinator', '--port', String(port), '--min-workers', '3', '--step-timeout', String(STEP_TIMEOUT_MS), '--checkpoint-every', '20', '--log-level', 'debug', ...train];
  let coord = run([...coordArgs, '--output', join(dir, 'run')]);
  const workers = [0, 1, 2].map(() => run(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--reconnect-timeout', '60000', '--log-level', 'info']));
  const held: Record<string, unknown> = {};
  let stopped: string | null = null;
  let f: ReturnType<typeof flood> | null = null;
  try {
    // The flood starts as soon as the workers' ring ports are known, before the ring forms.
    const rings: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const joined = await untilLog(coord, (r) => r['msg'] === 'worker joined' && r['appliedSteps'] === -1 && r['waiting'] === n, `worker ${n} joined`, deadline);
      rings.push(`${/^ws:\/\/127\.0\.0\.1:\d+/.exec(String(joined['ring']))![0]}/`);
    }
    f = flood(() => rings);
    await until(coord, /ring formed; training/, deadline);
    held['ringFormedUnderFlood'] = true;

    await untilLog(coord, (r) => r['msg'] === 'step committed' && r['step'] === 300, 'step 300', deadline);
    coord.child.kill('SIGSTOP');
    await sleep(STEP_TIMEOUT_MS + 3_000);
    coord.child.kill('SIGCONT');
    await untilLog(coord, (r) => r['msg'] === 'step committed' && r['step'] === 700, 'step 700', deadline);
    held['freezeSurvived'] = workers.every((w) => w.child.exitCode === null);

    coord.child.kill('SIGKILL');
    await coord.exited;
    const squatter = await squat(port);
    await sleep(4_000);
    await squatter.close();
    held['squatterConnections'] = squatter.connections;
    held['squatterSurvived'] = workers.every((w) => w.child.exitCode === null);
    writeFileSync(join(dir, 'coordinator-1.log'), coord.err);
    coord = run([...coordArgs, '--resume', join(dir, 'run')]);
  } catch (err) {
    stopped = err instanceof Error ? err.message : String(err);
  }
  const code = await Promise.race([coord.exited, sleep(Math.max(0, deadline - Date.now())).then(() => 'deadline')]);
  f?.stop();
  const workerCodes = await Promise.all(workers.map((w) => Promise.race([w.exited, sleep(10_000).then(() => 'running')])));
  for (const w of workers) w.child.kill('SIGKILL');
  coord.child.kill('SIGKILL');
  await reference.exited;
  // Logs stay for inspection next to the run's output.
  workers.forEach((w, i) => writeFileSync(join(dir, `worker-${i}.log`), w.err));
  writeFileSync(join(dir, 'coordinator.log'), coord.err);
  const s = summaryOf(coord);
  const ref = summaryOf(reference);
  process.stdout.write(`${JSON.stringify({
    event: 'chaos-hostile', ok: code === 0 && s !== null && JSON.stringify(s['replicaChecksums']) === JSON.stringify(ref?.['replicaChecksums']),
    stopped, ...held, workerExitCodes: workerCodes, coordinatorExit: code,
    flood: f ? { opened: f.opened, refusedAtUpgrade: f.refused } : null,
    maxWorkerLogBytes: Math.max(...workers.map((w) => w.err.length)),
    sameWeightsAsFaultFree: s !== null && ref !== null && JSON.stringify(s['replicaChecksums']) === JSON.stringify(ref['replicaChecksums']),
    replicaChecksums: s?.['replicaChecksums'] ?? null, faultFreeChecksums: ref?.['replicaChecksums'] ?? null,
    samplesPerEpochAllFull: Array.isArray(s?.['samplesPerEpoch']) && (s!['samplesPerEpoch'] as number[]).every((n) => n === 3200),
    duplicateSamples: s?.['duplicateSamples'] ?? null, resumedFromStep: s?.['resumedFromStep'] ?? null,
    wallSeconds: (Date.now() - started) / 1000, logs: dir,
    error: s ? undefined : coord.err.split('\n').filter((l) => l.startsWith('ringtrain: error')).pop() ?? `coordinator exit ${String(code)}`,
  })}\n`);
}
