/**
 * Training from a packed file (--data-file): the same rows as in-memory data give bit-identical
 * replicas; a file that does not fit the job is refused before any worker starts; and a dataset
 * larger than the workers' memory trains with every sample once per epoch while each worker's
 * peak RSS stays below the file's size (workers run with a small --max-old-space-size).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, summaryOf, type CliResult } from '../helpers/cli.js';
import { PackWriter } from '../../src/shared/data/pack-writer.js';
// @ts-expect-error a plain-JS fixture without types
import { row, WIDTH } from '../fixtures/wide-row-job.mjs';

const dir = mkdtempSync(join(tmpdir(), 'rt-datafile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const WIDE_JOB = new URL('../fixtures/wide-row-job.mjs', import.meta.url).pathname;

function logLines(r: CliResult): Record<string, unknown>[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const TINY = new URL('../fixtures/tiny-job.mjs', import.meta.url).pathname;
let packs: Promise<[string, string]> | null = null;
/** The tiny job's training split packed from seeds 42 and 43: same shapes, other data. */
function tinyPacks(): Promise<[string, string]> {
  const [a, b] = [join(dir, 'tiny-42.rtpack'), join(dir, 'tiny-43.rtpack')];
  packs ??= Promise.all([runCli(['data', 'pack', '--job', TINY, '--seed', '42', '--out', a]), runCli(['data', 'pack', '--job', TINY, '--seed', '43', '--out', b])]).then(() => [a, b]);
  return packs;
}

const local = (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
  runCli(['local', '--workers', '2', '--seed', '42', '--json', '--no-http', '--log-level', 'info', '--worker-log-level', 'info', ...args], opts);

describe('--data-file', () => {
  it('trains bit-identically to the same split in memory; workers read their rows from the file', async () => {
    const file = join(dir, 'mnist-train.rtpack');
    const packed = await runCli(['data', 'pack', '--job', 'mnist-mlp', '--split', 'train', '--seed', '42', '--out', file]);
    expect(packed.code, packed.stderr).toBe(0);
    expect(JSON.parse(packed.stdout)).toMatchObject({ event: 'packed', rows: 8000, tensors: [{ name: 'x', shape: [784] }, { name: 'y', shape: [10] }] });
    const inspected = JSON.parse((await runCli(['data', 'inspect', file])).stdout) as Record<string, unknown>;
    expect(inspected).toMatchObject({ rows: 8000, verified: true, sha256: JSON.parse(packed.stdout).sha256 });

    const common = ['--job', 'mnist-mlp', '--epochs', '1', '--batch-size', '400'];
    const [fromFile, inMemory] = await Promise.all([local([...common, '--data-file', file, '--output', join(dir, 'a')]), local([...common, '--output', join(dir, 'b')])]);
    const a = summaryOf(fromFile);
    const b = summaryOf(inMemory);
    expect(a).toMatchObject({ workers: 2, steps: 10, samplesPerEpoch: [8000], duplicateSamples: 0, missingSamples: 0 });
    expect(a['replicaChecksums']).toEqual(b['replicaChecksums']);
    expect(a['finalLoss']).toBe(b['finalLoss']);
    const logs = logLines(fromFile);
    expect(logs.filter((l) => l['msg'] === 'using a packed data file: batches arrive as indices')).toHaveLength(2);
    expect(logs.filter((l) => l['msg'] === 'rank ready').map((l) => l['data'])).toEqual(['local', 'local']);
  });

  it('refuses a file that does not fit the job, before any worker starts', async () => {
    const file = join(dir, 'regression.rtpack');
    expect((await runCli(['data', 'pack', '--job', 'regression-mlp', '--out', file])).code).toBe(0);
    const r = await local(['--job', 'mnist-mlp', '--epochs', '1', '--data-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error RT_DATA_MISMATCH: .*regression\.rtpack does not fit the job: tensor x has row shape \[\d+\] \(\d+ values\); the job declares \[784\]/);
    expect(r.stderr).not.toMatch(/"msg":"worker joined"/);
  });

  it('fails the run on every rank when one worker holds another file', async () => {
    const [ours, theirs] = await tinyPacks();
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '2', '--job', TINY, '--data-file', ours, '--no-http', '--output', join(dir, 'mismatch')]);
    const { port } = await coord.waitForLog({ msg: 'coordinator listening' });
    const worker = (file: string) => startCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--job', TINY, '--data-file', file]);
    const good = worker(ours);
    const bad = worker(theirs);
    const exits = await Promise.all([coord.exited, good.exited, bad.exited]);
    expect(exits.map((e) => e.code === 0)).toEqual([false, false, false]);
    expect(coord.stderr()).toMatch(/ringtrain: error RT_DATA_MISMATCH: rank \d failed: .*tiny-43\.rtpack holds other data than the coordinator's file/);
    expect(good.stderr()).toContain('RT_DATA_MISMATCH');
  });

  it('resumes a file-backed run only on the same file', async () => {
    const [ours, theirs] = await tinyPacks();
    const out = join(dir, 'resumable');
    const run = (file: string, epochs: string, resume: string[]) => runCli(['local', '--workers', '1', '--job', TINY, '--epochs', epochs, '--seed', '42', '--json', '--no-http', '--data-file', file, '--output', out, ...resume]);
    expect(summaryOf(await run(ours, '1', []))).toMatchObject({ steps: 12 });
    const other = await run(theirs, '2', ['--resume', out]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/error RT_CHECKPOINT_MISMATCH: checkpoint .* was written for a different job configuration/);
    expect(summaryOf(await run(ours, '2', ['--resume', out]))).toMatchObject({ steps: 24, resumedFromStep: 12, samplesPerEpoch: [96, 96] });
  });

  it('trains a dataset over twice the workers\' heap limit, each sample once per epoch, with peak RSS below the file size', async () => {
    const ROWS = 16_384; // rows of 4097 float32 values: 268 MB of data
    const file = join(dir, 'wide.rtpack');
    const w = await PackWriter.create(file, [{ name: 'x', dtype: 'float32', shape: [WIDTH] }, { name: 'y', dtype: 'float32', shape: [1] }]);
    const CHUNK = 256;
    const x = new Float32Array(CHUNK * WIDTH);
    const y = new Float32Array(CHUNK);
    for (let first = 0; first < ROWS; first += CHUNK) {
      for (let r = 0; r < CHUNK; r++) y[r] = row(first + r, x.subarray(r * WIDTH, (r + 1) * WIDTH));
      await w.appendColumns({ x, y }, CHUNK);
    }
    const header = await w.finish();
    const dataBytes = header.rows * header.rowBytes;
    expect(statSync(file).size).toBe(header.dataOffset + dataBytes);

    const HEAP_MB = 64;
    // wasm: the leanest engine here, so the figure is the data path's and not a native library's.
    const r = await local(['--job', WIDE_JOB, '--backend', 'wasm', '--data-file', file, '--epochs', '2', '--batch-size', '512', '--output', join(dir, 'wide-run')], { env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` } });
    const s = summaryOf(r);
    rmSync(file);
    expect(s).toMatchObject({ workers: 2, steps: 32, samplesPerEpoch: [ROWS, ROWS], duplicateSamples: 0, missingSamples: 0 });
    expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
    expect(Number.isFinite(s['finalLoss'])).toBe(true);
    const ends = logLines(r).filter((l) => l['role'] === 'worker' && l['msg'] === 'run finished');
    expect(ends).toHaveLength(2);
    for (const e of ends) {
      const rss = e['peakRssBytes'] as number;
      const heap = e['heapLimitBytes'] as number;
      process.stderr.write(`${JSON.stringify({ event: 'large-dataset', dataBytes, workerPeakRssBytes: rss, workerHeapLimitBytes: heap, wallSeconds: s['wallSeconds'] })}\n`);
      // The limit really applied, the data is more than twice it, and no worker ever held it all.
      expect(heap).toBeLessThan((HEAP_MB + 64) * 2 ** 20);
      expect(dataBytes).toBeGreaterThan(2 * heap);
      expect(rss).toBeLessThan(dataBytes);
    }
  });
});
