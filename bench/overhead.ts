/**
 * `npm run bench:overhead`: what the framework costs on one worker. The same job, engine, batch
 * size, initial weights, sample order and step count, trained (a) by a plain tfjs loop in a fresh
 * process (tf.train.adam + optimizer.minimize, one evaluation at the end; this script with
 * `--plain`) and (b) by
 * `ringtrain local --workers 1` (coordinator + one worker process; its summary's samplesPerSec
 * covers the training loop and the end-of-epoch evaluation). Both start cold in a new process and
 * time only their training loop. Runs alternate, medians are reported; prints one JSON line with
 * both throughputs and the ratio (b)/(a).
 *
 *   --job mnist-mlp  --backend wasm  --batch-size 32  --epochs 1  --repeats 3
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from '../dist/shared/engine/backend.js';
import { Trainer } from '../dist/shared/engine/trainer.js';
import { loadJob } from '../dist/jobs/registry.js';
import { evaluate } from '../dist/jobs/evaluate.js';
import { epochOrder, planStep, rankShare, type Position } from '../dist/shared/data/sampler.js';
import { inputSize } from '../dist/shared/job/job.js';
import { createLogger } from '../dist/shared/base/logger.js';
import type { BackendName } from '../dist/shared/config/config.js';
import { emit, median, round, v1Job } from './lines.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const { values: f } = parseArgs({
  options: {
    job: { type: 'string', default: 'mnist-mlp' },
    backend: { type: 'string', default: 'wasm' },
    'batch-size': { type: 'string', default: '32' },
    epochs: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
    plain: { type: 'boolean', default: false },
  },
});
const batchSize = Number(f['batch-size']);
const epochs = Number(f.epochs);
const seed = Number(f.seed);
const log = createLogger('bench', 'warn');

const job = v1Job(await loadJob(f.job!));
const lr = job.defaults?.lr ?? 1e-3;
const data = await job.loadData(seed);
const engine = await selectEngine(f.backend as BackendName, log);
const tf = engine.tf;
const stepsPerEpoch = Math.ceil(data.train.size / batchSize);
const steps = stepsPerEpoch * epochs;

/** (a): the loop a tfjs user would write, over the same batches in the same order. */
async function plain(): Promise<number> {
  const trainer = Trainer.create(tf, job, seed);
  const model = trainer.model;
  const vars = model.trainableWeights.map((w) => w.read() as TF.Variable);
  const opt = tf.train.adam(lr, 0.9, 0.999, 1e-7);
  const w = inputSize(job);
  const k = job.outputSize;
  let samples = 0;
  const t0 = performance.now();
  // The framework's own sampler with one rank: the same batches in the same order.
  let pos: Position = { step: 0, epoch: 0, cursor: 0 };
  let order = epochOrder(data.train.size, seed, 0);
  for (let p = planStep(pos, data.train.size, batchSize, 1, epochs); p; p = planStep(pos, data.train.size, batchSize, 1, epochs)) {
    const share = rankShare(p, 0);
    const idx = order.subarray(share.start, share.start + share.length);
    const x = new Float32Array(idx.length * w);
    const y = new Float32Array(idx.length * k);
    idx.forEach((src, i) => {
      x.set(data.train.x.subarray(src * w, (src + 1) * w), i * w);
      y.set(data.train.y.subarray(src * k, (src + 1) * k), i * k);
    });
    tf.tidy(() => {
      const xs = tf.tensor(x, [idx.length, ...job.inputShape], 'float32');
      const ys = tf.tensor(y, [idx.length, k], 'float32');
      const loss = opt.minimize(() => tf.mean(job.loss(tf, ys, model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, true, vars);
      loss?.dataSync();
    });
    samples += idx.length;
    pos = p.next;
    if (p.next.epoch !== p.epoch) {
      evaluate(tf, job, model, data.test);
      order = epochOrder(data.train.size, seed, pos.epoch);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  opt.dispose();
  trainer.dispose();
  return samples / secs;
}

/** (a) in a fresh process, so neither side profits from the other's warm-up. */
function plainChild(): number {
  const args = [fileURLToPath(import.meta.url), '--plain', '--job', f.job!, '--backend', f.backend!, '--batch-size', String(batchSize), '--epochs', String(epochs), '--seed', String(seed)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`plain tfjs run failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return (JSON.parse(line) as { samplesPerSec: number }).samplesPerSec;
}

/** (b): the framework with one worker. */
function framework(): number {
  const out = mkdtempSync(join(tmpdir(), 'ringtrain-overhead-'));
  try {
    const r = spawnSync(process.execPath, [CLI, 'local', '--workers', '1', '--job', f.job!, '--backend', f.backend!, '--batch-size', String(batchSize), '--epochs', String(epochs), '--lr', String(lr), '--seed', String(seed), '--json', '--output', out, '--log-level', 'warn'], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`ringtrain local failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return (JSON.parse(line) as { samplesPerSec: number }).samplesPerSec;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (f.plain) {
  emit({ samplesPerSec: await plain() });
  process.exit(0);
}
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < Number(f.repeats); i++) {
  a.push(plainChild());
  b.push(framework());
}
const pa = median(a);
const pb = median(b);
emit({
  bench: 'overhead', job: job.name, backend: engine.name, batchSize, steps, repeats: a.length,
  plain_samples_per_s: round(pa, 1), ringtrain_samples_per_s: round(pb, 1), ratio: round(pb / pa, 3),
});
