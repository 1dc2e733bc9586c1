/**
 * Batches from a worker's own data: the shared gather, the dataset fingerprint that decides when a
 * worker may use it, and the worker's loading and fallbacks, on the real mnist split and the tiny
 * fixture job.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { datasetFingerprint, gatherRows, hasShape, type RowLayout } from '../../src/shared/data/dataset.js';
import { specOf, toSplit } from '../../src/shared/job/spec.js';
import { makeMnistData } from '../../src/jobs/mnist-mlp.js';
import { loadJob } from '../../src/jobs/registry.js';
import type { Dataset, Job, JobV1, JobV2, LoadContext } from '../../src/shared/job/job.js';
import { batchRows, LocalData, type LocalSplit } from '../../src/worker/local-data.js';
import { mnistInt } from '../../src/jobs/mnist-int.js';
import { DataService } from '../../src/coordinator/data-service.js';
import { mnistMlp } from '../../src/jobs/mnist-mlp.js';
import { planStep } from '../../src/shared/data/sampler.js';
import type { StartMsg } from '../../src/shared/protocol/protocol.js';
import { codeOf } from '../helpers/codes.js';
import { adamParams, freshState } from '../helpers/train-state.js';

/** A v1 job's rows: float32 x and y of the given widths. */
const widths = (input: number, output: number): RowLayout => [{ name: 'x', dtype: 'float32', elements: input }, { name: 'y', dtype: 'float32', elements: output }];
const MNIST = widths(784, 10);
const TINY = widths(4, 1);
const S = toSplit;
type XY = { x: Float32Array; y: Float32Array };
const TINY_JOB = new URL('../fixtures/tiny-job.mjs', import.meta.url).pathname;

/** A real pino logger whose JSON lines the test can read. */
function capture(): { log: pino.Logger; lines: () => { level: number; msg: string }[] } {
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
  return { log: pino({ level: 'debug' }, sink), lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

function startFor(job: string, seed: number, dataFingerprint: string | null): StartMsg {
  const state = freshState(1);
  const params = adamParams({ batchSize: 8, seed, stepTimeoutMs: 1000 });
  return { type: 'start', generation: 1, rank: 0, worldSize: 1, successor: null, peers: null, job, params, state, fingerprint: 'f', ringSalt: new Uint8Array(32), dataFingerprint };
}

describe('gatherRows', () => {
  const train = makeMnistData(42).train;

  it('copies the indexed rows of x and y, in index order', () => {
    const idx = Uint32Array.of(7999, 0, 5, 5);
    const { x, y } = gatherRows(S(train), MNIST, idx) as XY;
    expect(x).toHaveLength(4 * 784);
    expect(y).toHaveLength(4 * 10);
    idx.forEach((src, i) => {
      expect(x.subarray(i * 784, (i + 1) * 784)).toEqual(train.x.subarray(src * 784, (src + 1) * 784));
      expect(y.subarray(i * 10, (i + 1) * 10)).toEqual(train.y.subarray(src * 10, (src + 1) * 10));
    });
    expect(gatherRows(S(train), MNIST, new Uint32Array(0))).toEqual({ x: new Float32Array(0), y: new Float32Array(0) });
  });

  it('is what the coordinator streams for a rank: the same rows a worker gathers from the same indices', () => {
    const service = new DataService(S(train), mnistMlp, 42);
    const p = planStep({ step: 0, epoch: 0, cursor: 0 }, service.size, 32, 2, 1)!;
    const idx = service.indices(p, 1);
    expect(idx).toHaveLength(32);
    const local = { train: S(makeMnistData(42).train), layout: MNIST, fingerprint: service.fingerprint };
    expect({ tensors: batchRows({ indices: idx }, local) }).toEqual(service.rows(idx));
  });

  it('refuses an index outside the split with RT_BAD_MESSAGE before copying anything', () => {
    expect(codeOf(() => gatherRows(S(train), MNIST, Uint32Array.of(0, train.size)))).toBe('RT_BAD_MESSAGE');
    expect(() => gatherRows(S(train), MNIST, Uint32Array.of(2 ** 32 - 1))).toThrow(/batch index 4294967295 is outside the 8000-sample training set/);
  });
});

describe('datasetFingerprint', () => {
  it('is the same for the same data loaded twice, and differs for any other data', () => {
    const a = makeMnistData(42).train;
    const fp = datasetFingerprint(S(a), MNIST);
    expect(datasetFingerprint(S(makeMnistData(42).train), MNIST)).toBe(fp);
    // Another seed: the same digits in another split.
    expect(datasetFingerprint(S(makeMnistData(43).train), MNIST)).not.toBe(fp);
    // One float of x, one of y, one sample fewer, or the same bytes read with other widths.
    const x = a.x.slice();
    x[12345] = Math.fround(x[12345]! + 1e-3);
    expect(datasetFingerprint(S({ ...a, x }), MNIST)).not.toBe(fp);
    const y = a.y.slice();
    y[0] = 0.5;
    expect(datasetFingerprint(S({ ...a, y }), MNIST)).not.toBe(fp);
    const shorter: Dataset = { x: a.x.subarray(0, 7999 * 784), y: a.y.subarray(0, 7999 * 10), size: 7999 };
    expect(datasetFingerprint(S(shorter), MNIST)).not.toBe(fp);
    expect(datasetFingerprint(S({ ...a, size: a.size * 2 }), widths(392, 5))).not.toBe(fp);
  });

  it('hasShape checks sizes against the widths', () => {
    const a = makeMnistData(42).train;
    expect(hasShape(S(a), MNIST)).toBe(true);
    expect(hasShape(S({ ...a, size: a.size + 1 }), MNIST)).toBe(false);
    expect(hasShape(S(a), widths(784, 9))).toBe(false);
  });
});

describe('a worker\'s local data (--data auto|stream)', () => {
  async function tinyCounting(): Promise<{ job: Job; loads: () => number }> {
    const tiny = await loadJob(TINY_JOB) as JobV1;
    let n = 0;
    return { job: { ...tiny, loadData: (seed: number) => (n++, tiny.loadData(seed)) }, loads: () => n };
  }
  const fingerprintOf = async (seed: number): Promise<string> => datasetFingerprint((await specOf(await loadJob(TINY_JOB)).loadData({ seed, rank: null, worldSize: null })).train, TINY);

  it('auto: loads once per job and seed, and holds the split only when it matches', async () => {
    const { job, loads } = await tinyCounting();
    const { log, lines } = capture();
    const local = new LocalData('auto');
    const fp = await fingerprintOf(3);
    const split = await local.forStart(startFor('tiny', 3, fp), async () => job, log);
    expect(split?.fingerprint).toBe(fp);
    expect(split && 'train' in split ? split.train.size : null).toBe(96);
    // A later generation reuses the load.
    expect(await local.forStart(startFor('tiny', 3, fp), async () => job, log)).toBe(split);
    expect(loads()).toBe(1);
    expect(lines().filter((l) => l.msg === 'using local data: batches arrive as indices')).toHaveLength(2);
    // The coordinator holds other data: streamed, with a warning, and still no second load.
    expect(await local.forStart(startFor('tiny', 3, await fingerprintOf(4)), async () => job, log)).toBeNull();
    expect(loads()).toBe(1);
    expect(lines().some((l) => l.level === 40 && /differs from the coordinator/.test(l.msg))).toBe(true);
    // Another seed is another load; an older coordinator offers no fingerprint: streamed.
    expect(await local.forStart(startFor('tiny', 4, await fingerprintOf(4)), async () => job, log)).not.toBeNull();
    expect(loads()).toBe(2);
    expect(await local.forStart(startFor('tiny', 3, null), async () => job, log)).toBeNull();
  });

  it('a v2 job loads with this worker\'s rank and world size (the coordinator\'s load has none)', async () => {
    const seen: LoadContext[] = [];
    const job: JobV2 = {
      ...mnistInt,
      loadData: (ctx) => (seen.push(ctx), mnistInt.loadData(ctx)),
    };
    const service = new DataService((await specOf(job).loadData({ seed: 42, rank: null, worldSize: null })).train, job, 42);
    const start = { ...startFor('mnist-int', 42, service.fingerprint), rank: 1, worldSize: 3 };
    const split = await new LocalData('auto').forStart(start, async () => job, capture().log);
    expect(split?.fingerprint).toBe(service.fingerprint);
    expect(seen).toEqual([{ seed: 42, rank: null, worldSize: null }, { seed: 42, rank: 1, worldSize: 3 }]);
    // Indices gather every named tensor, int32 labels included, as the coordinator would stream them.
    const idx = Uint32Array.of(5, 0, 7999);
    const rows = batchRows({ indices: idx }, split as LocalSplit);
    expect(rows['label']).toBeInstanceOf(Int32Array);
    expect({ tensors: rows }).toEqual(service.rows(idx));
  });

  it('stream: never loads', async () => {
    const { job, loads } = await tinyCounting();
    expect(await new LocalData('stream').forStart(startFor('tiny', 3, await fingerprintOf(3)), async () => job, capture().log)).toBeNull();
    expect(loads()).toBe(0);
  });

  it('auto: a failing or malformed load is a warning and streamed batches, never an error', async () => {
    const tiny = await loadJob(TINY_JOB) as JobV1;
    const fp = await fingerprintOf(3);
    const { log, lines } = capture();
    const throwing: Job = { ...tiny, loadData: () => { throw new Error('disk on fire'); } };
    expect(await new LocalData('auto').forStart(startFor('tiny', 3, fp), async () => throwing, log)).toBeNull();
    const lopsided: Job = { ...tiny, loadData: (s: number) => { const d = tiny.loadData(s) as { train: Dataset; test: Dataset }; return { ...d, train: { ...d.train, size: 97 } }; } };
    expect(await new LocalData('auto').forStart(startFor('tiny', 3, fp), async () => lopsided, log)).toBeNull();
    expect(await new LocalData('auto').forStart(startFor('tiny', 3, fp), () => Promise.reject(new Error('no such module')), log)).toBeNull();
    const warnings = lines().filter((l) => l.level === 40 && l.msg === 'could not load the training data locally; batches are streamed');
    expect(warnings).toHaveLength(3);
  });

  it('batchRows: streamed rows pass through; indices need matching local data and in-range indices', () => {
    const x = Float32Array.of(1, 2, 3, 4);
    const y = Float32Array.of(5);
    expect(batchRows({ tensors: { x, y } }, null)).toEqual({ x, y });
    expect(codeOf(() => batchRows({ indices: Uint32Array.of(0) }, null))).toBe('RT_BAD_MESSAGE');
    const local = { train: S({ x, y, size: 1 }), layout: TINY, fingerprint: 'f' };
    expect(batchRows({ indices: Uint32Array.of(0, 0) }, local)).toEqual({ x: Float32Array.of(1, 2, 3, 4, 1, 2, 3, 4), y: Float32Array.of(5, 5) });
    expect(codeOf(() => batchRows({ indices: Uint32Array.of(1) }, local))).toBe('RT_BAD_MESSAGE');
  });
});
