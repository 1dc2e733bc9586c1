/**
 * `npm run bench:data-file`: samples/s of the same job trained from its in-memory split (workers
 * gather rows from their own copy, `--data auto`) and from that split packed into a file
 * (`--data-file`: workers read their batches' rows with positional reads, read ahead). The split
 * is packed once with `ringtrain data pack`; then runs alternate (memory, file, memory, file …)
 * so background load affects both alike. Each run's summary gives samplesPerSec and the mean
 * step wait (waitMs near 0: the read-ahead keeps up); both must end on the same replica checksum.
 * Prints one JSON line per run and a last line with the medians and their ratio (file / memory).
 *
 *   --job mnist-mlp  --workers 2  --batch-size 64  --epochs 1  --repeats 3
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { emit, median, round } from './lines.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const { values: f } = parseArgs({
  options: {
    job: { type: 'string', default: 'mnist-mlp' },
    workers: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '64' },
    epochs: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
  },
});

function cli(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`ringtrain ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-bench-data-'));
try {
  const file = join(dir, 'train.rtpack');
  const packed = cli(['data', 'pack', '--job', f.job!, '--split', 'train', '--seed', f.seed!, '--out', file]);
  const run = (source: 'memory' | 'file', i: number): { samplesPerSec: number; checksum: string } => {
    const s = cli([
      'local', '--workers', f.workers!, '--job', f.job!, '--batch-size', f['batch-size']!, '--epochs', f.epochs!, '--seed', f.seed!,
      '--json', '--no-http', '--log-level', 'warn', '--output', join(dir, `${source}-${i}`), ...(source === 'file' ? ['--data-file', file] : []),
    ]);
    const timings = s['stepTimings'] as { waitMs: number; computeMs: number };
    const out = { samplesPerSec: s['samplesPerSec'] as number, checksum: (s['replicaChecksums'] as string[])[0] ?? '' };
    emit({ bench: 'data-file-run', source, run: i, samplesPerSec: round(out.samplesPerSec, 1), waitMs: round(timings.waitMs, 3), computeMs: round(timings.computeMs, 3), steps: s['steps'] });
    return out;
  };
  const memory: number[] = [];
  const fromFile: number[] = [];
  const sums = new Set<string>();
  for (let i = 0; i < Number(f.repeats); i++) {
    const m = run('memory', i);
    const d = run('file', i);
    memory.push(m.samplesPerSec);
    fromFile.push(d.samplesPerSec);
    sums.add(m.checksum).add(d.checksum);
  }
  if (sums.size !== 1) throw new Error(`file-backed and in-memory runs ended on different replicas: ${[...sums].join(', ')}`);
  emit({
    bench: 'data-file', job: f.job, workers: Number(f.workers), batchSize: Number(f['batch-size']), rows: packed['rows'], dataBytes: packed['dataBytes'],
    repeats: memory.length, memory_samples_per_s: round(median(memory), 1), file_samples_per_s: round(median(fromFile), 1), ratio: round(median(fromFile) / median(memory), 3),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
