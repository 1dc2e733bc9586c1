/**
 * The packed dataset format (`.rtpack`): random-access, fixed-width rows of named tensors.
 *
 *   bytes 0..3   magic "RTPK"
 *   bytes 4..7   header length H (uint32, little-endian)
 *   bytes 8..8+H the header: JSON, padded with spaces up to `dataOffset` (a multiple of 4096)
 *   dataOffset.. `rows` records of `rowBytes` each; a record holds every tensor's row, one after
 *                the other at its `offset`, little-endian
 *
 * Rows, not column blocks: training reads random rows (the sampler's permutation), and every
 * step needs all of a row's tensors at once, so one record is one positional read (and runs of
 * consecutive indices coalesce into one read); column blocks would cost one read per tensor per
 * row. The header's `sha256` covers the data bytes, so two holders of a file agree on its content
 * by comparing the header (cheap), and a holder proves its copy by hashing the data once.
 * This file is pure: layout, header encoding and validation, no I/O.
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';

export const PACK_MAGIC = 'RTPK';
export const PACK_VERSION = 1;
/** The data starts on a page boundary; the header is padded up to it. */
export const PACK_ALIGN = 4096;
/** A header larger than this is refused before it is read (it is untrusted input). */
export const MAX_HEADER_BYTES = 1 << 20;

export const PACK_DTYPES = ['float32', 'int32'] as const;
export type PackDtype = (typeof PACK_DTYPES)[number];
export type PackArray = Float32Array | Int32Array;

/** One named tensor of a row: its dtype and row shape (without the row dimension). */
export interface TensorSpec {
  name: string;
  dtype: PackDtype;
  shape: number[];
}

/** A tensor as laid out in a record. */
export interface TensorLayout extends TensorSpec {
  /** Byte offset within a record. */
  offset: number;
  /** Bytes of one row of this tensor. */
  bytes: number;
  /** Values in one row of this tensor. */
  elements: number;
}

export interface PackHeader {
  format: 'ringtrain-pack';
  version: number;
  rows: number;
  rowBytes: number;
  dataOffset: number;
  /** SHA-256 (hex) of the data bytes: `rows × rowBytes` bytes from `dataOffset`. */
  sha256: string;
  tensors: TensorLayout[];
}

function bad(why: string): never {
  throw new RingtrainError(ErrorCodes.BAD_DATA, why);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Lays the tensors out one after the other in a record (4-byte values keep every offset aligned). */
export function layout(specs: readonly TensorSpec[]): { tensors: TensorLayout[]; rowBytes: number } {
  if (specs.length === 0) bad('a packed dataset needs at least one tensor');
  const seen = new Set<string>();
  let offset = 0;
  const tensors = specs.map((s) => {
    if (!NAME.test(s.name)) bad(`tensor name ${JSON.stringify(s.name)} must be 1-64 letters, digits, _ . - (not starting with a digit)`);
    if (seen.has(s.name)) bad(`tensor ${s.name} is named twice`);
    seen.add(s.name);
    if (!PACK_DTYPES.includes(s.dtype)) bad(`tensor ${s.name}: dtype must be one of ${PACK_DTYPES.join('|')} (got ${String(s.dtype)})`);
    if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isInteger(d) && d > 0) || s.shape.length > 8) bad(`tensor ${s.name}: row shape must be up to 8 positive integers (got ${JSON.stringify(s.shape)})`);
    const elements = s.shape.reduce((a, b) => a * b, 1);
    const t: TensorLayout = { name: s.name, dtype: s.dtype, shape: [...s.shape], offset, bytes: elements * 4, elements };
    offset += t.bytes;
    return t;
  });
  if (offset > 1 << 30) bad(`a row of ${offset} bytes is larger than the 1 GiB a record may hold`);
  return { tensors, rowBytes: offset };
}

function headerJson(h: PackHeader): string {
  return JSON.stringify(h);
}

/**
 * Where the data starts for these tensors: room for the largest header they can have (any row
 * count, any hash), rounded up to a page, so a writer can reserve it before counting the rows.
 */
export function dataOffsetFor(tensors: TensorLayout[], rowBytes: number): number {
  const widest = headerJson({ format: 'ringtrain-pack', version: PACK_VERSION, rows: Number.MAX_SAFE_INTEGER, rowBytes, dataOffset: Number.MAX_SAFE_INTEGER, sha256: 'f'.repeat(64), tensors });
  const need = 8 + Buffer.byteLength(widest);
  return Math.ceil(need / PACK_ALIGN) * PACK_ALIGN;
}

/** The bytes before the data: magic, length, header JSON padded with spaces to `dataOffset`. */
export function encodeHeader(h: PackHeader): Buffer {
  const json = Buffer.from(headerJson(h), 'utf8');
  if (8 + json.length > h.dataOffset) throw new RingtrainError(ErrorCodes.INTERNAL, 'packed header outgrew its reserved space');
  const out = Buffer.alloc(h.dataOffset, 0x20);
  out.write(PACK_MAGIC, 0, 'latin1');
  out.writeUInt32LE(h.dataOffset - 8, 4);
  json.copy(out, 8);
  return out;
}

/** Header length from the first 8 bytes of a file; RT_BAD_DATA when they are not a pack's. */
export function headerLength(first8: Buffer, what: string): number {
  if (first8.length < 8 || first8.toString('latin1', 0, 4) !== PACK_MAGIC) bad(`${what} is not a ringtrain packed dataset (no RTPK magic); build one with \`ringtrain data pack\``);
  const n = first8.readUInt32LE(4);
  if (n < 2 || n > MAX_HEADER_BYTES) bad(`${what}: header length ${n} is outside [2, ${MAX_HEADER_BYTES}]`);
  return n;
}

/** Parses and checks a header (untrusted): every field, the tiling of the record, the file size. */
export function parseHeader(text: string, fileBytes: number, what: string): PackHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    bad(`${what}: header is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof raw !== 'object' || raw === null) bad(`${what}: header is not an object`);
  const o = raw as Record<string, unknown>;
  if (o['format'] !== 'ringtrain-pack') bad(`${what}: header format is ${JSON.stringify(o['format'])}, not "ringtrain-pack"`);
  if (o['version'] !== PACK_VERSION) bad(`${what}: format version ${String(o['version'])} is not supported (this ringtrain reads version ${PACK_VERSION})`);
  const int = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${what}: header field ${k} must be a non-negative integer`);
    return v;
  };
  const rows = int('rows');
  const rowBytes = int('rowBytes');
  const dataOffset = int('dataOffset');
  const sha256 = o['sha256'];
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) bad(`${what}: header field sha256 must be 64 hex digits`);
  if (!Array.isArray(o['tensors'])) bad(`${what}: header has no tensors list`);
  const specs = (o['tensors'] as unknown[]).map((t): TensorSpec => {
    if (typeof t !== 'object' || t === null) bad(`${what}: a tensor entry is not an object`);
    const r = t as Record<string, unknown>;
    return { name: String(r['name']), dtype: r['dtype'] as PackDtype, shape: r['shape'] as number[] };
  });
  const expect = layout(specs);
  // Offsets are derived, not trusted: the stored ones must be exactly what layout() computes.
  (o['tensors'] as Record<string, unknown>[]).forEach((t, i) => {
    if (t['offset'] !== expect.tensors[i]!.offset) bad(`${what}: tensor ${expect.tensors[i]!.name} has offset ${String(t['offset'])}, expected ${expect.tensors[i]!.offset}`);
  });
  if (rowBytes !== expect.rowBytes) bad(`${what}: rowBytes ${rowBytes} does not match its tensors (${expect.rowBytes})`);
  if (dataOffset % PACK_ALIGN !== 0 || dataOffset < 8) bad(`${what}: dataOffset ${dataOffset} is not a multiple of ${PACK_ALIGN}`);
  const want = dataOffset + rows * rowBytes;
  if (fileBytes !== want) bad(`${what} holds ${fileBytes} bytes; its header says ${want} (${rows} rows of ${rowBytes} bytes from ${dataOffset}): truncated or not a complete pack`);
  return { format: 'ringtrain-pack', version: PACK_VERSION, rows, rowBytes, dataOffset, sha256, tensors: expect.tensors };
}

/**
 * The identity of a pack's content as the coordinator announces it: row count, row width and the
 * data hash. Workers holding a file with this fingerprint (and whose data hashes to it) read
 * their own rows; the `rtpack:` prefix tells them the run is file-backed.
 */
export function packFingerprint(h: Pick<PackHeader, 'rows' | 'rowBytes' | 'sha256'>): string {
  return `rtpack:${h.rows}x${h.rowBytes}:${h.sha256}`;
}

/** True when a dataset fingerprint names a packed file rather than an in-memory split. */
export function isPackFingerprint(fp: string): boolean {
  return fp.startsWith('rtpack:');
}

/** The tensor called `name`, or RT_DATA_MISMATCH naming what the file holds instead. */
export function tensorOf(h: PackHeader, name: string, what: string): TensorLayout {
  const t = h.tensors.find((x) => x.name === name);
  if (!t) throw new RingtrainError(ErrorCodes.DATA_MISMATCH, `${what} has no tensor "${name}" (it holds ${h.tensors.map((x) => x.name).join(', ')})`);
  return t;
}

/**
 * Checks that a pack can feed a job: every tensor the job declares (a v1 job's `x` and `y`) is in
 * the file with the same dtype and values per row; RT_DATA_MISMATCH naming the first difference.
 * Tensors the job does not use may be present.
 */
export function assertJobLayout(h: PackHeader, tensors: readonly Pick<TensorSpec, 'name' | 'dtype' | 'shape'>[], what: string): void {
  for (const want of tensors) {
    const got = tensorOf(h, want.name, what);
    const elements = want.shape.reduce((a, b) => a * b, 1);
    const fail = (why: string): never => {
      throw new RingtrainError(ErrorCodes.DATA_MISMATCH, `${what} does not fit the job: tensor ${want.name} ${why}`);
    };
    if (got.dtype !== want.dtype) fail(`is ${got.dtype}; the job declares ${want.dtype}`);
    if (got.elements !== elements) fail(`has row shape [${got.shape.join(',')}] (${got.elements} values); the job declares [${want.shape.join(',')}] (${elements})`);
  }
}
