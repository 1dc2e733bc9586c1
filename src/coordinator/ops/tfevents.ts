/**
 * TensorBoard's event file format, written and read without TensorFlow: a TFRecord stream
 * (length, masked CRC-32C of the length, data, masked CRC-32C of the data) of `Event` protocol
 * buffers (tensorflow/core/util/event.proto), each holding a wall time, a step and either the
 * file version or a `Summary` of scalar values (`simple_value`). Only what scalars need is
 * encoded; the reader checks every CRC, so a test can prove the files are whole.
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TFRecord uses. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotated right by 15 and offset, so CRCs of CRCs stay well spread. */
export function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord framing `data`. */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc(data), 0);
  return Buffer.concat([head, data, tail]);
}

function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return Buffer.from(out);
}

function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

/** An Event carrying the file version (the first record of every event file). */
export function versionEvent(wallTime: number): Buffer {
  const t = Buffer.alloc(9);
  t[0] = 0x09; // field 1 (wall_time), 64-bit
  t.writeDoubleLE(wallTime, 1);
  return Buffer.concat([t, lengthDelimited(3, Buffer.from('brain.Event:2'))]);
}

/** An Event carrying scalar `values` (tag → value) at `step`. */
export function scalarEvent(wallTime: number, step: number, values: Readonly<Record<string, number>>): Buffer {
  const t = Buffer.alloc(9);
  t[0] = 0x09;
  t.writeDoubleLE(wallTime, 1);
  const parts = Object.entries(values).map(([tag, v]) => {
    const f = Buffer.alloc(5);
    f[0] = 0x15; // field 2 (simple_value), 32-bit float
    f.writeFloatLE(v, 1);
    return lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(tag)), f]));
  });
  return Buffer.concat([t, Buffer.from([0x10]), varint(step), lengthDelimited(5, Buffer.concat(parts))]);
}

/** An event as the reader returns it. */
export interface ReadEvent {
  wallTime: number;
  step: number;
  fileVersion: string | null;
  scalars: Record<string, number>;
}

/** Protocol buffer fields of `buf`: (field number, wire type, value or payload). */
function* fields(buf: Buffer): Generator<[number, number, bigint | Buffer]> {
  let i = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    const take = (n: number): Buffer => {
      if (i + n > buf.length) throw new Error('truncated field');
      const b = buf.subarray(i, i + n);
      i += n;
      return b;
    };
    if (wire === 0) yield [field, wire, readVarint()];
    else if (wire === 1) yield [field, wire, take(8)];
    else if (wire === 2) yield [field, wire, take(Number(readVarint()))];
    else if (wire === 5) yield [field, wire, take(4)];
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function parseEvent(buf: Buffer): ReadEvent {
  const ev: ReadEvent = { wallTime: NaN, step: 0, fileVersion: null, scalars: {} };
  for (const [field, , v] of fields(buf)) {
    if (field === 1 && Buffer.isBuffer(v)) ev.wallTime = v.readDoubleLE(0);
    else if (field === 2 && typeof v === 'bigint') ev.step = Number(BigInt.asIntN(64, v));
    else if (field === 3 && Buffer.isBuffer(v)) ev.fileVersion = v.toString('utf8');
    else if (field === 5 && Buffer.isBuffer(v)) {
      for (const [vf, , value] of fields(v)) {
        if (vf !== 1 || !Buffer.isBuffer(value)) continue;
        let tag = '';
        let simple = NaN;
        for (const [f, , x] of fields(value)) {
          if (f === 1 && Buffer.isBuffer(x)) tag = x.toString('utf8');
          else if (f === 2 && Buffer.isBuffer(x)) simple = x.readFloatLE(0);
        }
        ev.scalars[tag] = simple;
      }
    }
  }
  return ev;
}

/** Reads every event of an event file, checking both CRCs of every record. */
export function readEvents(file: Buffer): ReadEvent[] {
  const out: ReadEvent[] = [];
  let i = 0;
  while (i < file.length) {
    if (i + 12 > file.length) throw new Error(`truncated record header at byte ${i}`);
    const len = Number(file.readBigUInt64LE(i));
    if (file.readUInt32LE(i + 8) !== maskedCrc(file.subarray(i, i + 8))) throw new Error(`bad length CRC at byte ${i}`);
    const data = file.subarray(i + 12, i + 12 + len);
    if (data.length !== len || i + 16 + len > file.length) throw new Error(`truncated record at byte ${i}`);
    if (file.readUInt32LE(i + 12 + len) !== maskedCrc(data)) throw new Error(`bad data CRC at byte ${i}`);
    out.push(parseEvent(data));
    i += 16 + len;
  }
  return out;
}
