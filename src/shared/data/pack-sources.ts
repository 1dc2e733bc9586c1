/**
 * What `ringtrain data pack` reads: CSV (numeric columns picked into named tensors), JSONL (one
 * object per line, a field per tensor, nested arrays flattened) and typed arrays already in
 * memory. Each streams rows into a PackWriter, so memory stays one chunk whatever the input size.
 * A bad input row is RT_BAD_DATA naming the file and line; the half-written pack is removed.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../base/errors.js';
import { PACK_DTYPES, type PackDtype, type PackHeader, type TensorSpec } from './pack-format.js';
import { PackWriter } from './pack-writer.js';

/**
 * One `--tensor` spec: `NAME[:DTYPE][@SHAPE]=SOURCE`. For CSV the source is columns (0-based
 * indices, ranges `a-b`, or header names, comma-separated); for JSONL a field name (default:
 * NAME). SHAPE is `d1xd2x…`; default for CSV: [columns], for JSONL: the first row's nesting.
 */
export interface TensorSource {
  name: string;
  dtype: PackDtype;
  shape: number[] | null;
  source: string | null;
}

function badSpec(spec: string, why: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--tensor ${JSON.stringify(spec)}: ${why} (form: NAME[:float32|int32][@D1xD2]=COLUMNS or FIELD)`);
}

/** Parses `--tensor` specs (RT_BAD_CONFIG on a malformed one, before any file is opened). */
export function parseTensorSpecs(specs: readonly string[]): TensorSource[] {
  return specs.map((spec) => {
    const m = /^([^:@=]+)(?::([a-z0-9]+))?(?:@([0-9x]+))?(?:=(.+))?$/.exec(spec.trim());
    if (!m) badSpec(spec, 'cannot parse');
    const dtype = (m[2] ?? 'float32') as PackDtype;
    if (!PACK_DTYPES.includes(dtype)) badSpec(spec, `dtype must be one of ${PACK_DTYPES.join('|')}`);
    const shape = m[3] === undefined ? null : m[3].split('x').map(Number);
    if (shape && !shape.every((d) => Number.isInteger(d) && d > 0)) badSpec(spec, 'shape must be positive integers joined by x, e.g. 28x28x1');
    return { name: m[1]!.trim(), dtype, shape, source: m[4]?.trim() ?? null };
  });
}

/** Progress of a pack: bytes of input consumed (or rows, for arrays) out of a known total. */
export type PackProgress = (done: number, total: number) => void;

async function withWriter(out: string, specs: TensorSpec[], body: (w: PackWriter) => Promise<void>): Promise<PackHeader> {
  const w = await PackWriter.create(out, specs);
  try {
    await body(w);
    if (w.count === 0) throw new RingtrainError(ErrorCodes.BAD_DATA, 'the input holds no rows');
    return await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

/** Column indices of a CSV source (`0-783`, `5,7`, `label`), checked against the header. */
function columnsOf(src: string, header: string[] | null, width: number, spec: string): number[] {
  const cols: number[] = [];
  for (const part of src.split(',').map((p) => p.trim())) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) badSpec(spec, `range ${part} runs backwards`);
      for (let c = a; c <= b; c++) cols.push(c);
    } else if (/^\d+$/.test(part)) {
      cols.push(Number(part));
    } else {
      const at = header?.indexOf(part) ?? -1;
      if (at < 0) badSpec(spec, header ? `no column named ${part} in the header` : `the CSV has no header row, so columns must be numbers (got ${part})`);
      cols.push(at);
    }
  }
  const out = cols.find((c) => c >= width);
  if (out !== undefined) badSpec(spec, `column ${out} is beyond the ${width} columns of the CSV`);
  return cols;
}

/**
 * Packs a numeric CSV. The first line is a header when any of its fields is not a number. Every
 * `--tensor` names its columns; a field that is empty or not a number is RT_BAD_DATA (line, column).
 */
export async function packCsv(file: string, out: string, tensors: TensorSource[], progress?: PackProgress): Promise<PackHeader> {
  if (tensors.length === 0) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'packing a CSV needs --tensor specs naming its columns, e.g. --tensor x=0-783 --tensor y=784-793');
  const total = (await stat(file).catch(() => { throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read ${file}`); })).size;
  const input = createReadStream(file);
  let read = 0;
  input.on('data', (d) => progress?.(read += d.length, total));
  const records = input.pipe(parse({ bom: true, trim: true, skip_empty_lines: true, info: true }));
  const isNum = (f: string): boolean => f !== '' && !Number.isNaN(Number(f));
  const rowsFrom = async function* (): AsyncGenerator<{ record: string[]; line: number }> {
    try {
      for await (const r of records as AsyncIterable<{ record: string[]; info: { lines: number } }>) yield { record: r.record, line: r.info.lines };
    } catch (err) {
      throw new RingtrainError(ErrorCodes.BAD_DATA, `${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const it = rowsFrom();
  const first = await it.next();
  if (first.done) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} is empty`);
  const header = first.value.record.every(isNum) ? null : first.value.record;
  const width = first.value.record.length;
  const cols = tensors.map((t) => columnsOf(t.source ?? badSpec(t.name, 'a CSV tensor needs =COLUMNS'), header, width, t.name));
  const specs = tensors.map((t, i): TensorSpec => ({ name: t.name, dtype: t.dtype, shape: t.shape ?? [cols[i]!.length] }));
  return withWriter(out, specs, async (w) => {
    const take = async (record: string[], line: number): Promise<void> => {
      const row: Record<string, number[]> = {};
      tensors.forEach((t, i) => {
        row[t.name] = cols[i]!.map((c) => {
          const f = record[c]!;
          if (!isNum(f)) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${line} column ${c}: ${JSON.stringify(f)} is not a number`);
          return Number(f);
        });
      });
      await w.appendRow(row).catch((err: unknown) => {
        throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${line}: ${toRingtrainError(err).message}`);
      });
    };
    if (header === null) await take(first.value.record, first.value.line);
    for await (const { record, line } of it) await take(record, line);
  });
}

/**
 * Values of a number or (nested) JSON array, flattened into `out`. With `fixed`, the nesting must
 * be exactly `shape`; otherwise `shape` is learnt from the first path down (and must be regular).
 */
function flatten(v: unknown, out: number[], shape: number[], depth: number, fixed: boolean): boolean {
  if (typeof v === 'number') {
    out.push(v);
    if (!fixed && depth === 0) return true;
    return depth === shape.length;
  }
  if (!Array.isArray(v)) return false;
  if (shape.length === depth) {
    if (fixed) return false;
    shape.push(v.length);
  } else if (shape[depth] !== v.length) return false;
  return v.every((e) => flatten(e, out, shape, depth + 1, fixed));
}

/**
 * Packs JSONL: one JSON object per line, each `--tensor` taken from its field (default: the
 * first line's fields, all float32). Nested arrays are flattened; every line must have the first
 * line's shapes.
 */
export async function packJsonl(file: string, out: string, tensors: TensorSource[], progress?: PackProgress): Promise<PackHeader> {
  const total = (await stat(file).catch(() => { throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read ${file}`); })).size;
  const input = createReadStream(file);
  let read = 0;
  input.on('data', (d) => progress?.(read += d.length, total));
  const lines = createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
  let lineNo = 0;
  const next = async (): Promise<{ obj: Record<string, unknown>; line: number } | null> => {
    for (;;) {
      const r = await lines.next();
      if (r.done) return null;
      lineNo++;
      if (r.value.trim() === '') continue;
      let obj: unknown;
      try {
        obj = JSON.parse(r.value);
      } catch {
        throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${lineNo} is not JSON`);
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${lineNo} is not a JSON object`);
      return { obj: obj as Record<string, unknown>, line: lineNo };
    }
  };
  const first = await next();
  if (!first) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} is empty`);
  const chosen = tensors.length > 0 ? tensors : Object.keys(first.obj).map((k): TensorSource => ({ name: k, dtype: 'float32', shape: null, source: k }));
  // An explicit @SHAPE takes any regular nesting of that many values; otherwise the first line's.
  const valuesOf = (obj: Record<string, unknown>, line: number, t: TensorSource, shape: number[]): number[] => {
    const field = t.source ?? t.name;
    const vals: number[] = [];
    if (!(field in obj) || !flatten(obj[field], vals, t.shape ? [] : shape, 0, t.shape === null)) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${line}: field ${field} is missing or not a number / regular nested array of numbers${shape.length ? ` of shape [${shape.join(',')}]` : ''}`);
    return vals;
  };
  const shapes = chosen.map((t) => {
    if (t.shape) return t.shape;
    const s: number[] = [];
    const vals: number[] = [];
    if (!flatten(first.obj[t.source ?? t.name], vals, s, 0, false)) throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${first.line}: field ${t.source ?? t.name} is missing or not a number / regular nested array of numbers`);
    return s;
  });
  const specs = chosen.map((t, i): TensorSpec => ({ name: t.name, dtype: t.dtype, shape: shapes[i]! }));
  return withWriter(out, specs, async (w) => {
    for (let r: typeof first | null = first; r !== null; r = await next()) {
      const { obj, line } = r;
      const row: Record<string, number[]> = {};
      chosen.forEach((t, i) => (row[t.name] = valuesOf(obj, line, t, shapes[i]!)));
      await w.appendRow(row).catch((err: unknown) => {
        throw new RingtrainError(ErrorCodes.BAD_DATA, `${file} line ${line}: ${toRingtrainError(err).message}`);
      });
    }
  });
}

/** Packs typed arrays already in memory (a job's split): `rows` rows of each tensor, row-major. */
export async function packArrays(out: string, tensors: readonly (TensorSpec & { data: Float32Array | Int32Array })[], rows: number, progress?: PackProgress): Promise<PackHeader> {
  return withWriter(out, tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), async (w) => {
    const step = 4096;
    for (let r = 0; r < rows; r += step) {
      const n = Math.min(step, rows - r);
      const cols: Record<string, Float32Array | Int32Array> = {};
      for (const t of tensors) {
        const e = t.shape.reduce((a, b) => a * b, 1);
        cols[t.name] = t.data.subarray(r * e, (r + n) * e);
      }
      await w.appendColumns(cols, n);
      progress?.(r + n, rows);
    }
  });
}
