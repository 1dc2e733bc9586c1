/**
 * `npm run bench:engines`: ms per training step and GFLOP/s of each case on every engine, one JSON
 * line per (case, engine), then side-by-side ratio lines (each engine against wasm and cpu, and
 * tensorflow against the best other engine), ringtrain's per-step overhead at batch 32 against a
 * bare tfjs gradient step, and one `table` line. Each (case, engine) runs in its own child process
 * (dist-bench/engine-steps.js): tfjs holds one active engine per process, and a crash or hang of
 * one engine (a driver, say) must not take the others with it.
 *
 *   --engines tensorflow,webgpu,wasm,cpu
 *   --cases mnist-mlp:32,mnist-mlp:256,mnist-cnn:64,wide-mlp:32:8   (job:batch[:steps])
 *   --steps 30  --cpu-steps 4  --timeout-s 300  --flag NAME=VALUE (passed to every child)
 * The side-by-side step variants run at batch 32 of mnist-mlp, on every engine but cpu.
 *
 * webgpu runs on whatever adapter Dawn finds; on a machine without a GPU, prepare the software one
 * first (tests/setup/prepare-vulkan.sh, then `set -a; . .cache/vulkan/vulkan.env; set +a`).
 * An engine that is not available gives an `error` line and is left out of the ratios.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { emit, round } from './lines.js';

const { values: f } = parseArgs({
  options: {
    engines: { type: 'string', default: 'tensorflow,webgpu,wasm,cpu' },
    cases: { type: 'string', default: 'mnist-mlp:32,mnist-mlp:256,mnist-cnn:64,wide-mlp:32:8' },
    steps: { type: 'string', default: '30' },
    'cpu-steps': { type: 'string', default: '4' },
    'timeout-s': { type: 'string', default: '300' },
    flag: { type: 'string', multiple: true, default: [] },
  },
});
const RUNNER = fileURLToPath(new URL('./engine-steps.js', import.meta.url));

interface Line {
  job: string;
  engine: string;
  batchSize: number;
  msPerStep?: number;
  cpuMsPerStep?: number;
  gflops?: number;
  error?: string;
  compare?: Record<string, number>;
}

function runChild(job: string, engine: string, batchSize: number, steps: number, compare: boolean): Promise<Line> {
  const args = [RUNNER, '--child', '--jobs', job, '--backends', engine, '--steps', String(steps), '--batch-size', String(batchSize)];
  if (compare) args.push('--compare');
  for (const kv of f.flag!) args.push('--flag', kv);
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { TF_CPP_MIN_LOG_LEVEL: '2', ...process.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), Number(f['timeout-s']) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop();
      if (line && line.startsWith('{')) done(JSON.parse(line) as Line);
      else done({ job, engine, batchSize, error: `exit ${signal ?? code}: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}` });
    });
  });
}

const engines = f.engines!.split(',');
const cases = f.cases!.split(',').map((c) => {
  const [job, b, n] = c.split(':');
  return { job: job!, batchSize: Number(b ?? 32), steps: n === undefined ? null : Number(n) };
});
const results: Line[] = [];
for (const c of cases) {
  for (const engine of engines) {
    const steps = Math.min(c.steps ?? Infinity, Number(engine === 'cpu' ? f['cpu-steps'] : f.steps));
    // The side-by-side step variants (read-back choices, bare tfjs) at batch 32 of the small MLP.
    const compare = c.batchSize === 32 && c.job === 'mnist-mlp' && engine !== 'cpu';
    const line = await runChild(c.job, engine, c.batchSize, steps, compare);
    // The losses and per-step list stay in the per-case line but not in the summary.
    const { losses: _l, stepMs: _s, checksum: _c, reason: _r, ...keep } = line as Line & Record<string, unknown>;
    emit(keep);
    results.push(line);
  }
}

const ok = results.filter((r) => r.msPerStep !== undefined);
const find = (job: string, batchSize: number, engine: string): Line | undefined => ok.find((r) => r.job === job && r.batchSize === batchSize && r.engine === engine);
for (const c of cases) {
  for (const base of ['wasm', 'cpu']) {
    const b = find(c.job, c.batchSize, base);
    if (!b) continue;
    for (const e of engines) {
      const r = find(c.job, c.batchSize, e);
      if (r && e !== base) emit({ bench: 'engines-ratio', job: c.job, batchSize: c.batchSize, engine: e, base, [`${e}_ms`]: r.msPerStep, [`${base}_ms`]: b.msPerStep, speedup: round(b.msPerStep! / r.msPerStep!, 2),
        // The same ratio in CPU time per step: steadier on a shared machine, but it counts every
        // engine thread, so it understates a multi-threaded engine's wall-clock gain.
        cpu_speedup: round(b.cpuMsPerStep! / r.cpuMsPerStep!, 2) });
    }
  }
}
for (const r of ok) {
  const c = r.compare;
  if (!c) continue;
  const chosen = Object.entries(c).filter(([k]) => k.startsWith('trainer_') && k.endsWith('_ms') && !k.endsWith('_cpu_ms'));
  const best = chosen.reduce((a, b) => (b[1] < a[1] ? b : a));
  emit({
    bench: 'engines-overhead', job: r.job, batchSize: r.batchSize, engine: r.engine, ...c,
    // What ringtrain adds around the engine at N = 1 (read-back into the fusion buffer, flat Adam,
    // weight upload) over the least a trainer does (tf.variableGrads and reading every gradient).
    fastest_read_back: best[0].slice('trainer_'.length, -'_ms'.length),
    ringtrain_over_grad_ms: round(best[1] - c['tfjs_grad_ms']!, 3),
    tfjs_adam_over_ringtrain: round(c['tfjs_adam_ms']! / best[1], 2),
  });
}
emit({ bench: 'engines-table', rows: ok.map((r) => ({ job: r.job, batchSize: r.batchSize, engine: r.engine, msPerStep: r.msPerStep, cpuMsPerStep: r.cpuMsPerStep, gflops: r.gflops })) });
