/**
 * Random access to a packed dataset: the header is read and checked once, then a batch's rows
 * come in by vectored positional reads (one per run of consecutive indices) that place each
 * row's tensors straight into one typed array per tensor, in the batch's order. Memory is the
 * batch itself; the file stays on disk (and in the OS page cache, not the process's memory).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { headerLength, packFingerprint, parseHeader, type PackArray, type PackHeader } from './pack-format.js';

/** Buffers one vectored read may fill (Linux's IOV_MAX). */
const IOV_MAX = 1024;
/** Positional reads in flight at once for one batch (the libuv pool runs 4 at a time). */
const READS_IN_FLIGHT = 32;
/** Bytes hashed per read while verifying. */
const VERIFY_CHUNK = 4 << 20;

/** Rows of a batch, one typed array per tensor (row-major, in the order of the indices asked for). */
export type PackRows = Record<string, PackArray>;

export class PackReader {
  private constructor(private readonly fh: FileHandle, readonly path: string, readonly header: PackHeader) {}

  /** Opens `path` and checks its header and size; RT_BAD_DATA when it is not a complete pack. */
  static async open(path: string): Promise<PackReader> {
    // Rows are viewed as float32/int32 in place: the format is little-endian.
    if (endianness() !== 'LE') throw new RingtrainError(ErrorCodes.BAD_DATA, 'packed datasets are little-endian; this host is big-endian');
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot open data file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      const size = (await fh.stat()).size;
      const first = Buffer.alloc(8);
      await readFully(fh, first, 0, path);
      const n = headerLength(first, path);
      if (8 + n > size) throw new RingtrainError(ErrorCodes.BAD_DATA, `${path} is shorter than its header`);
      const text = Buffer.alloc(n);
      await readFully(fh, text, 8, path);
      return new PackReader(fh, path, parseHeader(text.toString('utf8'), size, path));
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get rows(): number {
    return this.header.rows;
  }

  /** What the coordinator announces and workers compare: rows, row width, data hash. */
  get fingerprint(): string {
    return packFingerprint(this.header);
  }

  /** Bytes of data (rows × row width), the figure a memory bound is compared with. */
  get dataBytes(): number {
    return this.header.rows * this.header.rowBytes;
  }

  /**
   * The rows at `indices`. Indices may come off the wire, so each is checked before any read: one
   * outside the file is RT_BAD_MESSAGE. Consecutive indices (after sorting) share one read.
   */
  async readRows(indices: Uint32Array): Promise<PackRows> {
    const { rows, rowBytes, dataOffset, tensors } = this.header;
    for (const i of indices) {
      if (i >= rows) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `batch index ${i} is outside the ${rows}-row data file`);
    }
    const n = indices.length;
    const out: PackRows = {};
    const bytesOf: Uint8Array[] = tensors.map((t) => {
      const dst = t.dtype === 'float32' ? new Float32Array(n * t.elements) : new Int32Array(n * t.elements);
      out[t.name] = dst;
      return new Uint8Array(dst.buffer);
    });
    // Rows in file order; a run of consecutive rows is one vectored read that scatters each row's
    // tensors straight to their places in the batch (no scratch copy), at most IOV_MAX pieces.
    const sorted = Array.from(indices.keys()).sort((a, b) => indices[a]! - indices[b]!);
    const perRead = Math.max(1, Math.floor(IOV_MAX / tensors.length));
    const runs: { row: number; ks: number[] }[] = [];
    for (const k of sorted) {
      const row = indices[k]!;
      const last = runs[runs.length - 1];
      if (last && last.row + last.ks.length === row && last.ks.length < perRead) last.ks.push(k);
      else runs.push({ row, ks: [k] });
    }
    const pieces = (ks: number[]): Uint8Array[] => ks.flatMap((k) => tensors.map((t, ti) => bytesOf[ti]!.subarray(k * t.bytes, (k + 1) * t.bytes)));
    for (let r = 0; r < runs.length; r += READS_IN_FLIGHT) {
      await Promise.all(runs.slice(r, r + READS_IN_FLIGHT).map((run) => readvFully(this.fh, pieces(run.ks), dataOffset + run.row * rowBytes, this.path)));
    }
    return out;
  }

  /**
   * Hashes the data bytes (a streaming pass with a fixed buffer) and compares with the header:
   * RT_BAD_DATA when the content is not what the pack says (corrupt or edited copy).
   */
  async verify(onBytes?: (done: number, total: number) => void): Promise<void> {
    const total = this.dataBytes;
    const hash = createHash('sha256');
    const buf = new Uint8Array(Math.min(VERIFY_CHUNK, Math.max(1, total)));
    for (let done = 0; done < total;) {
      const len = Math.min(buf.length, total - done);
      await readFully(this.fh, buf.subarray(0, len), this.header.dataOffset + done, this.path);
      hash.update(buf.subarray(0, len));
      done += len;
      onBytes?.(done, total);
    }
    const got = hash.digest('hex');
    if (got !== this.header.sha256) throw new RingtrainError(ErrorCodes.BAD_DATA, `${this.path}: data hashes to ${got.slice(0, 16)}…, its header says ${this.header.sha256.slice(0, 16)}… (corrupt or modified copy; pack it again)`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Fills every buffer of `into`, in order, from `position`; a short file is RT_BAD_DATA. */
async function readvFully(fh: FileHandle, into: Uint8Array[], position: number, path: string): Promise<void> {
  let bufs = into;
  let pos = position;
  while (bufs.length > 0) {
    const { bytesRead } = await fh.readv(bufs, pos);
    if (bytesRead === 0) throw new RingtrainError(ErrorCodes.BAD_DATA, `${path} ended early at byte ${pos} (truncated after it was opened?)`);
    pos += bytesRead;
    // A short read (rare: signals, network file systems) continues where it stopped.
    let left = bytesRead;
    let i = 0;
    while (i < bufs.length && left >= bufs[i]!.length) left -= bufs[i++]!.length;
    bufs = bufs.slice(i);
    if (left > 0) bufs[0] = bufs[0]!.subarray(left);
  }
}

/** Reads exactly `into.length` bytes at `position`; a short file is RT_BAD_DATA. */
async function readFully(fh: FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new RingtrainError(ErrorCodes.BAD_DATA, `${path} ended early at byte ${position + done} (truncated after it was opened?)`);
    done += bytesRead;
  }
}
