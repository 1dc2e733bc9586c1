/**
 * Writes a packed dataset in one pass with bounded memory: rows go through a fixed chunk buffer
 * that is hashed and written as it fills, the header (row count, hash) is written last into the
 * space reserved for it, and the file appears under its name only when complete (temp file,
 * fsync, rename), so a reader never sees a half-written pack.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { dataOffsetFor, encodeHeader, layout, PACK_VERSION, type PackHeader, type TensorLayout, type TensorSpec } from './pack-format.js';

/** Bytes buffered before a write: large enough for sequential speed, small next to any dataset. */
const CHUNK_BYTES = 4 << 20;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export class PackWriter {
  private readonly chunk: ArrayBuffer;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  /** Rows in the chunk so far, and the chunk's capacity in rows. */
  private filled = 0;
  private readonly capacity: number;
  private rows = 0;
  private position: number;
  private readonly hash: Hash = createHash('sha256');
  private closed = false;

  private constructor(
    private readonly out: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    readonly tensors: TensorLayout[],
    readonly rowBytes: number,
    private readonly dataOffset: number,
  ) {
    this.capacity = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    this.chunk = new ArrayBuffer(this.capacity * rowBytes);
    this.f32 = new Float32Array(this.chunk);
    this.i32 = new Int32Array(this.chunk);
    this.position = dataOffset;
  }

  /** Starts a pack of these tensors at `out` (written to a temporary name until finish()). */
  static async create(out: string, specs: readonly TensorSpec[]): Promise<PackWriter> {
    const { tensors, rowBytes } = layout(specs);
    const tmp = `${out}.tmp-${process.pid}`;
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'w');
    } catch (err) {
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return new PackWriter(out, tmp, fh, tensors, rowBytes, dataOffsetFor(tensors, rowBytes));
  }

  /** Rows appended so far. */
  get count(): number {
    return this.rows;
  }

  /**
   * Appends one row: for every tensor, its values in row-major order (`elements` of them). A
   * missing tensor, a wrong count, or a value its dtype cannot hold is RT_BAD_DATA naming the row.
   */
  async appendRow(row: Readonly<Record<string, ArrayLike<number>>>): Promise<void> {
    const base = (this.filled * this.rowBytes) / 4;
    for (const t of this.tensors) {
      const v = row[t.name];
      if (v === undefined) this.fail(`has no values for tensor ${t.name}`);
      if (v.length !== t.elements) this.fail(`has ${v.length} values for tensor ${t.name}, which takes ${t.elements} (row shape [${t.shape.join(',')}])`);
      const at = base + t.offset / 4;
      if (t.dtype === 'float32') {
        for (let i = 0; i < v.length; i++) {
          const n = v[i]!;
          if (!Number.isFinite(n)) this.fail(`tensor ${t.name} value ${i} is ${String(n)}, not a finite number`);
          this.f32[at + i] = n;
        }
      } else {
        for (let i = 0; i < v.length; i++) {
          const n = v[i]!;
          if (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX) this.fail(`tensor ${t.name} value ${i} is ${String(n)}, not an int32`);
          this.i32[at + i] = n;
        }
      }
    }
    this.filled++;
    this.rows++;
    if (this.filled === this.capacity) await this.flush();
  }

  /**
   * Appends `n` rows given as whole columns (typed arrays of n × elements values, row-major): the
   * fast path for data already in memory, copied a chunk at a time.
   */
  async appendColumns(cols: Readonly<Record<string, Float32Array | Int32Array>>, n: number): Promise<void> {
    for (const t of this.tensors) {
      const c = cols[t.name];
      if (c === undefined || c.length !== n * t.elements) throw new RingtrainError(ErrorCodes.BAD_DATA, `tensor ${t.name} needs ${n} × ${t.elements} values (got ${c?.length ?? 'none'})`);
      if ((t.dtype === 'float32') !== (c instanceof Float32Array)) throw new RingtrainError(ErrorCodes.BAD_DATA, `tensor ${t.name} is ${t.dtype}; its column is a ${c.constructor.name}`);
    }
    for (let r = 0; r < n; r++) {
      const base = (this.filled * this.rowBytes) / 4;
      for (const t of this.tensors) {
        const c = cols[t.name]!;
        const view = t.dtype === 'float32' ? this.f32 : this.i32;
        view.set(c.subarray(r * t.elements, (r + 1) * t.elements), base + t.offset / 4);
      }
      this.filled++;
      this.rows++;
      if (this.filled === this.capacity) await this.flush();
    }
  }

  private fail(why: string): never {
    throw new RingtrainError(ErrorCodes.BAD_DATA, `row ${this.rows + 1} ${why}`);
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    const bytes = new Uint8Array(this.chunk, 0, this.filled * this.rowBytes);
    this.hash.update(bytes);
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.length;
    this.filled = 0;
  }

  /** Writes the header, syncs, and moves the file to its name; returns the header. */
  async finish(): Promise<PackHeader> {
    await this.flush();
    const header: PackHeader = {
      format: 'ringtrain-pack', version: PACK_VERSION, rows: this.rows, rowBytes: this.rowBytes, dataOffset: this.dataOffset,
      sha256: this.hash.digest('hex'), tensors: this.tensors,
    };
    const head = encodeHeader(header);
    await this.fh.write(head, 0, head.length, 0);
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    await rename(this.tmp, this.out);
    return header;
  }

  /** Drops the unfinished file (after a bad row, or an interrupt). */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await rm(this.tmp, { force: true });
  }
}
