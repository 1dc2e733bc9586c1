/**
 * Chaos harness (`npm run chaos`): mnist-mlp on 4 worker processes while this script SIGKILLs a
 * random worker 10 times (respawning each) and kills and restarts the coordinator once with
 * --resume. Prints one JSON line: kills, recoveries, committed steps lost, final replica
 * checksums, and test accuracy next to a fault-free run with the same seed.
 *
 * Not a test: it takes minutes and its figures are the point. It stops by itself (deadline).
 * `npm run chaos -- --hostile` runs the hostile mode instead (chaos-hostile.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, logLines, runCli as run, sleep, summaryOf, type Proc } from './cli-proc.js';


const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const KILLS = arg('kills', 10);
const EPOCHS = arg('epochs', 12);
const SEED = arg('seed', 42);
const WORKERS = 4;
const DEADLINE_MS = arg('deadline-s', 900) * 1000;

/** Waits until `count` lines of the coordinator's log match `re` (or the deadline passes). */
async function until(p: Proc, re: RegExp, count: number, deadline: number): Promise<void> {
  while ((p.err.match(new RegExp(re.source, 'g'))?.length ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`chaos: timed out waiting for ${re} x${count}`);
    if (p.child.exitCode !== null || summaryOf(p)) throw new Error(`chaos: the coordinator ended while waiting for ${re}`);
    await sleep(100);
  }
}

function committedSteps(log: string): number[] {
  return logLines(log).filter((r) => r['msg'] === 'step committed').map((r) => Number(r['step']));
}

function formingSteps(log: string): number[] {
  return logLines(log).filter((r) => r['msg'] === 'forming generation').map((r) => Number(r['step']));
}

async function main(): Promise<void> {
  const started = Date.now();
  const deadline = started + DEADLINE_MS;
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-chaos-'));
  const train = ['--job', 'mnist-mlp', '--epochs', String(EPOCHS), '--seed', String(SEED), '--json', '--log-level', 'debug'];

  const reference = run(['local', '--workers', String(WORKERS), ...train, '--output', join(dir, 'reference'), '--no-http']);
  await reference.exited;
  const ref = summaryOf(reference);

  const port = await freePort();
  const coordArgs = ['coordinator', '--port', String(port), '--min-workers', String(WORKERS - 1), '--max-workers', String(WORKERS), '--checkpoint-every', '10', '--rendezvous-grace', '500', '--no-http', ...train];
  let coord = run([...coordArgs, '--output', join(dir, 'run')]);
  const workers: Proc[] = [];
  const spawnWorker = (): Proc => run(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--log-level', 'warn']);
  for (let i = 0; i < WORKERS; i++) workers.push(spawnWorker());

  let kills = 0;
  let lost = 0;
  let recoveries = 0;
  let coordinatorRestarts = 0;
  let formed = 1;
  await until(coord, /ring formed; training/, 1, deadline);
  let stopped: string | null = null;
  try {
  while (kills < KILLS && !summaryOf(coord)) {
    // Let the current generation commit a few steps, then strike.
    const before = committedSteps(coord.err).length;
    while (committedSteps(coord.err).length < before + 8 && !summaryOf(coord)) {
      if (Date.now() > deadline) throw new Error('chaos: deadline');
      await sleep(50);
    }
    if (summaryOf(coord)) break;
    const victim = Math.floor(Math.random() * workers.length);
    const lastCommitted = Math.max(...committedSteps(coord.err));
    // Generations formed so far (joins of earlier respawns included): recovery is the next one.
    const formedBefore = formingSteps(coord.err).length;
    workers[victim]!.child.kill('SIGKILL');
    kills++;
    workers[victim] = spawnWorker();
    await until(coord, /forming generation/, formedBefore + 1, deadline);
    formed = formedBefore + 1;
    const adopted = formingSteps(coord.err)[formedBefore] ?? 0;
    lost += Math.max(0, lastCommitted + 1 - adopted);
    recoveries++;
    await until(coord, /ring formed; training/, formed, deadline);

    if (kills === Math.ceil(KILLS / 2) && coordinatorRestarts === 0) {
      const lastBefore = Math.max(...committedSteps(coord.err));
      coord.child.kill('SIGKILL');
      await coord.exited;
      coordinatorRestarts++;
      writeFileSync(join(dir, 'coordinator-1.log'), coord.err);
      coord = run([...coordArgs, '--resume', join(dir, 'run')]);
      await until(coord, /ring formed; training/, 1, deadline);
      formed = (coord.err.match(/forming generation/g) ?? []).length;
      const resumedAt = formingSteps(coord.err)[0] ?? 0;
      lost += Math.max(0, lastBefore + 1 - resumedAt);
      recoveries++;
    }
  }
  } catch (err) {
    // The run can end between a kill and its recovery; report what happened up to there.
    stopped = err instanceof Error ? err.message : String(err);
  }
  // The deadline timer is cleared once the coordinator exits, or it would hold the process open.
  let deadlineTimer: NodeJS.Timeout | undefined;
  const code = await Promise.race([coord.exited, new Promise<string>((resolve) => (deadlineTimer = setTimeout(() => resolve('deadline'), Math.max(0, deadline - Date.now()))))]);
  clearTimeout(deadlineTimer);
  const s = summaryOf(coord);
  for (const w of workers) w.child.kill('SIGKILL');
  coord.child.kill('SIGKILL');
  // Logs stay for inspection: the coordinators' (debug level) name every generation and adoption.
  writeFileSync(join(dir, 'coordinator-2.log'), coord.err);
  const sums = (s?.['replicaChecksums'] as string[] | undefined) ?? [];
  process.stdout.write(`${JSON.stringify({
    event: 'chaos', ok: code === 0 && s !== null, stopped, kills, coordinatorRestarts, recoveries, committedStepsLost: lost,
    replicaChecksums: sums, replicasEqual: sums.length > 0 && new Set(sums).size === 1,
    samplesPerEpoch: s?.['samplesPerEpoch'] ?? null, duplicateSamples: s?.['duplicateSamples'] ?? null, missingSamples: s?.['missingSamples'] ?? null,
    testAccuracy: s?.['testAccuracy'] ?? null, faultFreeTestAccuracy: ref?.['testAccuracy'] ?? null,
    workers: s?.['workers'] ?? null, epochs: EPOCHS, wallSeconds: (Date.now() - started) / 1000, logs: dir,
    coordinatorCommittedStepsLost: s?.['committedStepsLost'] ?? null,
    error: s ? undefined : coord.err.split('\n').filter((l) => l.startsWith('ringtrain: error')).pop() ?? `coordinator exit ${String(code)}`,
  })}\n`);
}

// --hostile: the squatter, the ring flood and the frozen coordinator instead (chaos-hostile.ts).
if (process.argv.includes('--hostile')) await (await import('./chaos-hostile.js')).hostile();
else await main();
