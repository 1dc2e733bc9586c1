/**
 * The packed dataset format on real files: what the writer puts in comes back from positional
 * reads in any index order, the hash proves the content, and damaged files are refused with
 * stable codes instead of being read.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PackWriter } from '../../src/shared/data/pack-writer.js';
import { PackReader } from '../../src/shared/data/pack-reader.js';
import { assertJobLayout, packFingerprint } from '../../src/shared/data/pack-format.js';
import { RingtrainError } from '../../src/shared/base/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = 3000; // 3000 rows of 1544 bytes: about 4.4 MiB, so more than one 4 MiB write chunk
const img = (r: number, i: number): number => Math.fround(Math.sin(r * 0.37 + i * 0.011) * 100);

async function build(file: string): Promise<void> {
  const w = await PackWriter.create(file, [
    { name: 'image', dtype: 'float32', shape: [16, 12, 2] },
    { name: 'label', dtype: 'int32', shape: [] },
    { name: 'extra', dtype: 'float32', shape: [1] },
  ]);
  // Half row by row (as CSV/JSONL do), half as columns (as typed arrays do).
  const half = ROWS / 2;
  for (let r = 0; r < half; r++) {
    await w.appendRow({ image: Array.from({ length: 384 }, (_, i) => img(r, i)), label: [r - 1000], extra: [r / 2] });
  }
  const image = new Float32Array(half * 384);
  const label = new Int32Array(half);
  const extra = new Float32Array(half);
  for (let r = half; r < ROWS; r++) {
    for (let i = 0; i < 384; i++) image[(r - half) * 384 + i] = img(r, i);
    label[r - half] = r - 1000;
    extra[r - half] = r / 2;
  }
  await w.appendColumns({ image, label, extra }, half);
  const h = await w.finish();
  expect(h.rows).toBe(ROWS);
}

function codeOf(err: unknown): string {
  return err instanceof RingtrainError ? err.code : String(err);
}

describe('packed dataset', () => {
  const file = join(dir, 'a.rtpack');

  it('round-trips rows of named tensors in any index order, and its hash checks out', async () => {
    await build(file);
    const r = await PackReader.open(file);
    expect(r.rows).toBe(ROWS);
    expect(r.header.tensors.map((t) => [t.name, t.dtype, t.shape, t.offset])).toEqual([
      ['image', 'float32', [16, 12, 2], 0], ['label', 'int32', [], 1536], ['extra', 'float32', [1], 1540],
    ]);
    expect(r.header.dataOffset % 4096).toBe(0);
    expect(r.fingerprint).toBe(packFingerprint(r.header));
    await r.verify();
    // Unsorted, with a run of consecutive rows (one read) and rows from both halves.
    const idx = Uint32Array.from([2999, 5, 6, 7, 1500, 0, 1499, 42]);
    const rows = await r.readRows(idx);
    const image = rows['image'] as Float32Array;
    expect(rows['label']).toBeInstanceOf(Int32Array);
    idx.forEach((row, k) => {
      expect(rows['label']![k]).toBe(row - 1000);
      expect(rows['extra']![k]).toBe(row / 2);
      for (const i of [0, 17, 383]) expect(image[k * 384 + i]).toBe(img(row, i));
    });
    // A long run of consecutive rows, asked for backwards: split into vectored reads of at most
    // IOV_MAX pieces, each row still landing at its own place.
    const back = Uint32Array.from({ length: 1200 }, (_, k) => 1299 - k);
    const many = await r.readRows(back);
    back.forEach((row, k) => {
      expect(many['label']![k]).toBe(row - 1000);
      expect(many['image']![k * 384 + 383]).toBe(img(row, 383));
    });
    await expect(r.readRows(Uint32Array.from([1, ROWS]))).rejects.toSatisfy((e) => codeOf(e) === 'RT_BAD_MESSAGE');
    expect(() => assertJobLayout(r.header, [{ name: 'x', dtype: 'float32', shape: [384] }], file)).toThrow(/no tensor "x"/);
    await r.close();
  });

  it('refuses a corrupt, truncated or tampered file with RT_BAD_DATA', async () => {
    const bytes = readFileSync(file);
    const corrupt = join(dir, 'corrupt.rtpack');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3]! ^= 1;
    writeFileSync(corrupt, flipped);
    const r = await PackReader.open(corrupt);
    await expect(r.verify()).rejects.toSatisfy((e) => codeOf(e) === 'RT_BAD_DATA');
    await r.close();

    const short = join(dir, 'short.rtpack');
    writeFileSync(short, bytes);
    truncateSync(short, bytes.length - 1);
    await expect(PackReader.open(short)).rejects.toThrow(/truncated or not a complete pack/);

    const tampered = join(dir, 'tampered.rtpack');
    writeFileSync(tampered, Buffer.from(bytes.toString('latin1').replace('"offset":1536', '"offset":1532'), 'latin1'));
    await expect(PackReader.open(tampered)).rejects.toSatisfy((e) => codeOf(e) === 'RT_BAD_DATA');

    const notPack = join(dir, 'x.csv');
    writeFileSync(notPack, 'a,b\n1,2\n');
    await expect(PackReader.open(notPack)).rejects.toThrow(/not a ringtrain packed dataset/);
  });

  it('refuses rows the tensors cannot hold, naming the row', async () => {
    const w = await PackWriter.create(join(dir, 'bad.rtpack'), [{ name: 'y', dtype: 'int32', shape: [2] }]);
    await w.appendRow({ y: [1, 2] });
    await expect(w.appendRow({ y: [1, 2.5] })).rejects.toThrow(/row 2 tensor y value 1 is 2.5, not an int32/);
    await expect(w.appendRow({ y: [1] })).rejects.toThrow(/row 2 has 1 values for tensor y/);
    await w.abort();
    await expect(PackWriter.create(join(dir, 'n.rtpack'), [{ name: '1x', dtype: 'float32', shape: [1] }])).rejects.toSatisfy((e) => codeOf(e) === 'RT_BAD_DATA');
  });
});
