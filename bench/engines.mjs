#!/usr/bin/env node
// Times training steps of built-in jobs on each engine (no ring, one replica) and prints one JSON
// line per (job, engine). Run after `npm run build`:
//   node bench/engines.mjs [--jobs mnist-mlp,mnist-cnn] [--backends cpu,wasm,webgpu] [--steps 5]
//                          [--batch-size 32] [--gpu I] [--dump-weights]
// Each (job, engine) runs in its own child process: tfjs holds one active engine per process, and
// a crash or hang of one engine (a driver, say) must not take the others with it.
// For webgpu on a machine without a GPU, source the env file written by
// tests/setup/prepare-vulkan.sh first (set -a; . .cache/vulkan/vulkan.env; set +a).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: 'mnist-mlp,mnist-cnn' },
    backends: { type: 'string', default: 'cpu,wasm,webgpu' },
    steps: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '32' },
    gpu: { type: 'string' },
    seed: { type: 'string', default: '42' },
    'dump-weights': { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '300' },
    child: { type: 'boolean', default: false },
  },
});

const positiveInt = (name, v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) { console.error(`engines: --${name} must be a positive integer (got ${v})`); process.exit(2); }
  return n;
};

if (values.child) {
  // One (job, engine) in this process.
  const dist = new URL('../dist/', import.meta.url);
  const { runEngineSteps } = await import(new URL('worker/engine-bench.js', dist).href);
  const { loadJob } = await import(new URL('jobs/registry.js', dist).href);
  const { createLogger } = await import(new URL('shared/logger.js', dist).href);
  const job = await loadJob(values.jobs);
  let run;
  try {
    run = await runEngineSteps({
    backend: values.backends, job, steps: positiveInt('steps', values.steps), batchSize: positiveInt('batch-size', values['batch-size']),
    seed: positiveInt('seed', Number(values.seed) + 1) - 1, gpu: values.gpu === undefined ? null : Number(values.gpu),
    }, createLogger('bench', 'warn'));
  } catch (err) {
    // One line naming the failure (e.g. a kernel the engine lacks), then a non-zero exit.
    process.stdout.write(`${JSON.stringify({ job: values.jobs, engine: values.backends, error: `${err.code ?? 'error'}: ${err.message}` })}\n`, () => process.exit(1));
    await new Promise(() => {});
  }
  const { weights, ...rest } = run;
  const out = { ...rest, msPerStep: +run.msPerStep.toFixed(2), gflops: +run.gflops.toFixed(3), stepMs: run.stepMs.map((m) => +m.toFixed(1)) };
  if (values['dump-weights']) out.weights = Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength).toString('base64');
  // Exit only once the line is flushed (a pipe is written asynchronously): Dawn keeps the event
  // loop alive after use, so the process would not end by itself.
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

function runChild(job, backend) {
  const args = [fileURLToPath(import.meta.url), '--child', '--jobs', job, '--backends', backend, '--steps', values.steps, '--batch-size', values['batch-size'], '--seed', values.seed];
  if (values.gpu !== undefined) args.push('--gpu', values.gpu);
  if (values['dump-weights']) args.push('--dump-weights');
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), positiveInt('timeout-s', values['timeout-s']) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop();
      if (line && line.startsWith('{')) done(line);
      else done(JSON.stringify({ job, engine: backend, error: `exit ${signal ?? code}`, stderr: stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600) }));
    });
  });
}

// A child ends through process.exit once its line is flushed; until then it must not fall through
// to the parent's loop below, or every child would spawn another (a self-perpetuating chain).
if (!values.child) {
  for (const job of values.jobs.split(',')) {
    for (const backend of values.backends.split(',')) process.stdout.write(`${await runChild(job, backend)}\n`);
  }
}
