/**
 * `ringtrain data pack`'s inputs on real files: CSV columns and JSONL fields land in the named
 * tensors as written, and bad input stops the pack with a line naming where, leaving no file.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packCsv, packJsonl, parseTensorSpecs } from '../../src/shared/data/pack-sources.js';
import { PackReader } from '../../src/shared/data/pack-reader.js';
import { RingtrainError } from '../../src/shared/base/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-packsrc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof RingtrainError ? `${err.code}: ${err.message}` : String(err);
  }
}
async function rowsOf(path: string, idx: number[]): Promise<{ reader: PackReader; rows: Record<string, ArrayLike<number>> }> {
  const reader = await PackReader.open(path);
  await reader.verify();
  const rows = await reader.readRows(Uint32Array.from(idx));
  await reader.close();
  return { reader, rows };
}

describe('pack sources', () => {
  it('parses --tensor specs, refusing malformed ones with RT_BAD_CONFIG', () => {
    expect(parseTensorSpecs(['x=0-3', 'label:int32=y', 'img@2x2=pix'])).toEqual([
      { name: 'x', dtype: 'float32', shape: null, source: '0-3' },
      { name: 'label', dtype: 'int32', shape: null, source: 'y' },
      { name: 'img', dtype: 'float32', shape: [2, 2], source: 'pix' },
    ]);
    expect(() => parseTensorSpecs(['x:float64=0'])).toThrow(/RT_BAD_CONFIG|dtype must be one of float32\|int32/);
    expect(() => parseTensorSpecs(['x@2x0=0'])).toThrow(/shape must be positive integers/);
  });

  it('CSV: columns by index, range or header name; a header is detected; quoted names and CRLF work', async () => {
    const csv = file('a.csv', '"f 0",f1,f2,label\r\n1,2,3,7\r\n4.5,-5,6e2,8\r\n\r\n7,8,9,9\r\n');
    const out = join(dir, 'a.rtpack');
    const h = await packCsv(csv, out, parseTensorSpecs(['x=0-1,f2', 'y:int32=label']));
    expect(h.rows).toBe(3);
    expect(h.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['x', 'float32', [3]], ['y', 'int32', [1]]]);
    const { rows } = await rowsOf(out, [1, 2, 0]);
    expect(Array.from(rows['x']!)).toEqual([4.5, -5, 600, 7, 8, 9, 1, 2, 3]);
    expect(rows['y']).toEqual(Int32Array.of(8, 9, 7));
    // No header: every line is data.
    const bare = await packCsv(file('b.csv', '1,2\n3,4\n'), join(dir, 'b.rtpack'), parseTensorSpecs(['x@1x1=0', 'y=1']));
    expect(bare.rows).toBe(2);
  });

  it('CSV: a bad field, a short row or a bad column stops the pack with its line, leaving no file', async () => {
    const out = join(dir, 'bad.rtpack');
    expect(await failure(packCsv(file('c.csv', 'a,b\n1,2\n3,\n'), out, parseTensorSpecs(['x=a', 'y=b'])))).toBe('RT_BAD_DATA: ' + join(dir, 'c.csv') + ' line 3 column 1: "" is not a number');
    expect(await failure(packCsv(file('d.csv', 'a,b\n1,2\n3\n'), out, parseTensorSpecs(['x=a', 'y=b'])))).toMatch(/^RT_BAD_DATA: .*d\.csv: .*line 3/);
    expect(await failure(packCsv(file('e.csv', 'a,b\n1,2.5\n'), out, parseTensorSpecs(['y:int32=b'])))).toMatch(/^RT_BAD_DATA: .*e\.csv line 2: .*value 0 is 2.5, not an int32/);
    expect(await failure(packCsv(file('f.csv', 'a,b\n1,2\n'), out, parseTensorSpecs(['x=c'])))).toMatch(/^RT_BAD_CONFIG: .*no column named c/);
    expect(await failure(packCsv(join(dir, 'none.csv'), out, parseTensorSpecs(['x=0'])))).toMatch(/^RT_BAD_CONFIG: cannot read/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('JSONL: fields become tensors with the first line\'s shapes; a line of another shape is refused', async () => {
    const jl = file('a.jsonl', '{"img":[[1,2],[3,4]],"label":3,"w":[0.5]}\n\n{"img":[[5,6],[7,8]],"label":1,"w":[1.5]}\n');
    const out = join(dir, 'j.rtpack');
    const all = await packJsonl(jl, out, []);
    expect(all.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['img', 'float32', [2, 2]], ['label', 'float32', []], ['w', 'float32', [1]]]);
    const picked = await packJsonl(jl, out, parseTensorSpecs(['x@4=img', 'y:int32=label']));
    expect(picked.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['x', 'float32', [4]], ['y', 'int32', []]]);
    const { rows } = await rowsOf(out, [1, 0]);
    expect(Array.from(rows['x']!)).toEqual([5, 6, 7, 8, 1, 2, 3, 4]);
    expect(rows['y']).toEqual(Int32Array.of(1, 3));
    const ragged = file('r.jsonl', '{"img":[[1,2],[3,4]]}\n{"img":[[1,2],[3]]}\n');
    expect(await failure(packJsonl(ragged, join(dir, 'r.rtpack'), []))).toMatch(/^RT_BAD_DATA: .*r\.jsonl line 2: field img .*shape \[2,2\]/);
    expect(await failure(packJsonl(file('n.jsonl', '{"a":1}\nnot json\n'), join(dir, 'n.rtpack'), []))).toMatch(/^RT_BAD_DATA: .*n\.jsonl line 2 is not JSON/);
  });
});
