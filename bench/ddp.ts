/**
 * `npm run bench:ddp`: ringtrain against PyTorch DDP (Gloo) on the same machine, side by side:
 * the same model, training split (exported from the job's loadData for the Python side), per-worker
 * batch, Adam, learning rate and epochs. For each configuration it runs `ringtrain local --json`
 * and bench/ddp_reference.py alternately, `--repeats` times, and prints one JSON line with both
 * samples/s (medians), their ratio, both test accuracies and both times to the first step.
 *
 *   --configs mnist-cnn:2:256,mnist-mlp:1:32,mnist-mlp:4:32   (job:workers:batch per worker)
 *   --backend tensorflow  --epochs N (default: the job's)  --repeats 1  --python /usr/bin/python3
 *
 * Needs PyTorch for that python (Debian: apt-get install python3-torch, plus libopenblas0-pthread:
 * without it Debian's torch computes its dense layers with the unoptimised reference BLAS, about
 * 10× slower). OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): spinning
 * threads on a shared machine made PyTorch's step up to 10× slower here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadJob } from '../dist/jobs/registry.js';
import { emit, median, round, v1Job } from './lines.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const REFERENCE = join(ROOT, 'bench', 'ddp_reference.py');
const { values: f } = parseArgs({
  options: {
    configs: { type: 'string', default: 'mnist-cnn:2:256,mnist-mlp:1:32,mnist-mlp:4:32' },
    backend: { type: 'string', default: 'tensorflow' },
    epochs: { type: 'string' },
    repeats: { type: 'string', default: '1' },
    seed: { type: 'string', default: '42' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const seed = Number(f.seed);

/** The job's split as raw float32 files for the Python side. */
async function exportData(jobName: string, dir: string): Promise<void> {
  const data = await v1Job(await loadJob(jobName)).loadData(seed);
  for (const split of ['train', 'test'] as const) {
    const d = data[split];
    writeFileSync(join(dir, `${split}-x.f32`), new Uint8Array(d.x.buffer, d.x.byteOffset, d.x.byteLength));
    writeFileSync(join(dir, `${split}-y.f32`), new Uint8Array(d.y.buffer, d.y.byteOffset, d.y.byteLength));
  }
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ train: data.train.size, test: data.test.size }));
}

function lastJson(stdout: string, what: string, stderr: string, status: number | null): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  if (status !== 0 || !line.startsWith('{')) throw new Error(`${what} failed (${status}): ${stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function ringtrain(job: string, workers: number, batch: number, epochs: number, lr: number): Record<string, unknown> {
  const out = mkdtempSync(join(tmpdir(), 'ringtrain-ddp-'));
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'local', '--workers', String(workers), '--job', job, '--backend', f.backend!, '--batch-size', String(batch), '--epochs', String(epochs), '--lr', String(lr), '--seed', String(seed), '--json', '--output', out, '--log-level', 'warn'], { encoding: 'utf8', timeout: 1_800_000, env: { TF_CPP_MIN_LOG_LEVEL: '2', ...process.env } });
    const s = lastJson(r.stdout, 'ringtrain local', r.stderr, r.status);
    return { ...s, commandSeconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function pytorch(job: string, workers: number, batch: number, epochs: number, lr: number, data: string): Record<string, unknown> {
  const t0 = performance.now();
  const r = spawnSync(f.python!, [REFERENCE, '--job', job, '--workers', String(workers), '--batch-size', String(batch), '--epochs', String(epochs), '--lr', String(lr), '--seed', String(seed), '--data', data], { encoding: 'utf8', timeout: 1_800_000, env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env } });
  const s = lastJson(r.stdout, 'bench/ddp_reference.py', r.stderr, r.status);
  return { ...s, commandSeconds: (performance.now() - t0) / 1000 };
}

const num = (r: Record<string, unknown>, k: string): number => Number(r[k]);
for (const c of f.configs!.split(',')) {
  const [job, w, b] = c.split(':');
  const workers = Number(w);
  const batch = Number(b);
  const spec = await loadJob(job!);
  const epochs = Number(f.epochs ?? spec.defaults?.epochs ?? 1);
  const lr = spec.defaults?.lr ?? 1e-3;
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-ddp-data-'));
  try {
    await exportData(job!, dir);
    const rt: Record<string, unknown>[] = [];
    const pt: Record<string, unknown>[] = [];
    for (let i = 0; i < Number(f.repeats); i++) {
      rt.push(ringtrain(job!, workers, batch, epochs, lr));
      pt.push(pytorch(job!, workers, batch, epochs, lr, dir));
    }
    const rs = median(rt.map((r) => num(r, 'samplesPerSec')));
    const ps = median(pt.map((r) => num(r, 'samplesPerSec')));
    const lastR = rt[rt.length - 1]!;
    const lastP = pt[pt.length - 1]!;
    emit({
      bench: 'ddp', job, workers, batchSize: batch, epochs, lr, backend: f.backend, repeats: rt.length,
      ringtrain_samples_per_s: round(rs, 1), pytorch_samples_per_s: round(ps, 1), ratio: round(rs / ps, 3),
      ringtrain_accuracy: lastR['testAccuracy'], pytorch_accuracy: round(num(lastP, 'testAccuracy'), 4),
      ringtrain_first_step_s: lastR['firstStepSeconds'] === undefined ? null : round(num(lastR, 'firstStepSeconds'), 2), pytorch_first_step_s: round(num(lastP, 'firstStepSeconds'), 2),
      ringtrain_command_s: round(num(lastR, 'commandSeconds'), 2), pytorch_command_s: round(num(lastP, 'commandSeconds'), 2),
      engines: lastR['engines'], replicas_equal: new Set(lastR['replicaChecksums'] as string[]).size === 1, torch: lastP['torch'], pytorch_threads_per_worker: lastP['threadsPerWorker'], omp_wait_policy: process.env['OMP_WAIT_POLICY'] ?? 'PASSIVE',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
