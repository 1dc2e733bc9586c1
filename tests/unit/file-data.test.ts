/**
 * A worker's side of a file-backed run, on real files: it uses its --data-file only when that
 * file has the coordinator's fingerprint and its bytes hash to its header, and then reads each
 * batch's rows (ahead of the step, bounded) exactly as the file holds them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { PackWriter } from '../../src/shared/data/pack-writer.js';
import { PackReader } from '../../src/shared/data/pack-reader.js';
import { BatchFeed, LocalData } from '../../src/worker/local-data.js';
import { loadJob } from '../../src/jobs/registry.js';
import type { BatchMsg, StartMsg } from '../../src/shared/protocol/protocol.js';
import { codeOf } from '../helpers/codes.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-filedata-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TINY_JOB = new URL('../fixtures/tiny-job.mjs', import.meta.url).pathname;
const log = pino({ level: 'silent' });

async function pack(file: string, rows: number, shift: number): Promise<string> {
  const w = await PackWriter.create(file, [{ name: 'x', dtype: 'float32', shape: [4] }, { name: 'y', dtype: 'float32', shape: [1] }]);
  for (let r = 0; r < rows; r++) await w.appendRow({ x: [r, r + 0.5, -r, shift], y: [r * 2] });
  await w.finish();
  const reader = await PackReader.open(file);
  await reader.close();
  return reader.fingerprint;
}

/** Only the fields of a start message that choosing the data reads. */
const startWith = (dataFingerprint: string): StartMsg => ({ job: 'tiny', params: { seed: 3 }, dataFingerprint }) as unknown as StartMsg;
const batch = (step: number, indices: number[]): BatchMsg =>
  ({ type: 'batch', generation: 1, step, epoch: 0, count: indices.length, nextEpoch: 0, nextCursor: 0, checksum: false, sendState: false, indices: Uint32Array.from(indices) });

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return codeOf(() => { throw err; });
  }
}

describe('a worker in a file-backed run', () => {
  it('refuses to train without the same, intact file', async () => {
    const job = async () => loadJob(TINY_JOB);
    const good = join(dir, 'good.rtpack');
    const want = await pack(good, 50, 0);
    const other = join(dir, 'other.rtpack');
    await pack(other, 50, 1);
    const corrupt = join(dir, 'corrupt.rtpack');
    const bytes = readFileSync(good);
    bytes[bytes.length - 1]! ^= 0x40;
    writeFileSync(corrupt, bytes);

    expect(await rejection(new LocalData('auto', null).forStart(startWith(want), job, log))).toBe('RT_DATA_MISMATCH');
    expect(await rejection(new LocalData('stream', good).forStart(startWith(want), job, log))).toBe('RT_DATA_MISMATCH');
    expect(await rejection(new LocalData('auto', other).forStart(startWith(want), job, log))).toBe('RT_DATA_MISMATCH');
    expect(await rejection(new LocalData('auto', corrupt).forStart(startWith(want), job, log))).toBe('RT_BAD_DATA');
    const wrongJob = async () => ({ ...(await loadJob(TINY_JOB)), inputShape: [5] });
    expect(await rejection(new LocalData('auto', good).forStart(startWith(want), wrongJob, log))).toBe('RT_DATA_MISMATCH');

    const data = new LocalData('auto', good);
    const split = await data.forStart(startWith(want), job, log);
    expect(split !== null && 'file' in split).toBe(true);
    // A later generation reuses the opened, verified file.
    const again = await data.forStart(startWith(want), job, log);
    expect(again !== null && 'file' in again && split !== null && 'file' in split && again.file === split.file).toBe(true);
  });

  it('feeds each batch the rows the file holds, read ahead as batches arrive', async () => {
    const file = join(dir, 'feed.rtpack');
    const want = await pack(file, 50, 7);
    const split = await new LocalData('auto', file).forStart(startWith(want), async () => loadJob(TINY_JOB), log);
    const feed = new BatchFeed(split);
    const batches = [batch(0, [3, 1, 2]), batch(1, [49, 0]), batch(2, [50])];
    for (const b of batches) feed.arrived(b);
    expect(await feed.rows(batches[0]!)).toEqual({ x: Float32Array.of(3, 3.5, -3, 7, 1, 1.5, -1, 7, 2, 2.5, -2, 7), y: Float32Array.of(6, 2, 4) });
    expect(await feed.rows(batches[1]!)).toEqual({ x: Float32Array.of(49, 49.5, -49, 7, 0, 0.5, -0, 7), y: Float32Array.of(98, 0) });
    // An index past the file fails when its step takes the rows, not before.
    expect(await rejection(Promise.resolve().then(() => feed.rows(batches[2]!)))).toBe('RT_BAD_MESSAGE');
  });
});
