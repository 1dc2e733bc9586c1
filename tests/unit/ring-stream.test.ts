/**
 * The ring's wire reader, fed bytes the way sockets deliver them: split at arbitrary places. Every
 * payload must reach its target whole, in order, as aligned whole elements; every malformed
 * frame must throw RT_BAD_FRAME.
 */
import { describe, expect, it } from 'vitest';
import { Dtype, FRAME_HEADER_BYTES, FrameKind, writeFrameHeader, type FrameHeader } from '../../src/shared/protocol/codec.js';
import { RingStreamReader, type Route } from '../../src/shared/transport/ring-stream.js';
import { dataFrameHead, readyFrame, wsBinaryHeader, wsCloseFrame, wsWrap } from '../../src/shared/transport/ring-frames.js';
import { mulberry32 } from '../../src/shared/base/rng.js';

const LIMIT = 1 << 20;

function header(h: Partial<FrameHeader> & { count: number }): FrameHeader {
  return { kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: 1, seq: 1, offset: 0, ...h };
}

/** A data frame as PeerLink writes it: headers, then the payload. */
function dataFrame(h: FrameHeader, payload: Buffer, fromClient: boolean): Buffer {
  return Buffer.concat([dataFrameHead(h, payload.length, fromClient), payload]);
}

/** The same frame masked with a real (non-zero) key, as a browser-style client would send it. */
function masked(frame: Buffer, key: number[]): Buffer {
  const head = wsBinaryHeader(frame.length, true);
  Buffer.from(key).copy(head, head.length - 4);
  const out = Buffer.concat([head, frame]);
  for (let i = 0; i < frame.length; i++) out[head.length + i]! ^= key[i & 3]!;
  return out;
}

interface Seen {
  streamed: Map<number, number[]>;
  collected: { h: FrameHeader; payload: Buffer }[];
  ready: number;
  closed: number;
  misaligned: number;
}

/** A reader whose routes stream float32 frames with `seq` 1 and collect every other frame. */
function reader(seen: Seen): RingStreamReader {
  return new RingStreamReader(LIMIT, {
    route: (h): Route => {
      if (h.seq !== 1) return 'collect';
      const values = new Array<number>(h.count).fill(NaN);
      seen.streamed.set(h.offset, values);
      return {
        piece: (bytes, at) => {
          if (bytes.byteOffset % 4 !== 0 || bytes.length % 4 !== 0) seen.misaligned++;
          const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
          f.forEach((v, i) => (values[at + i] = v));
        },
      };
    },
    end: (h, route, payload) => {
      if (route === 'collect') seen.collected.push({ h, payload: Buffer.from(payload!) });
    },
    ready: () => void seen.ready++,
    closed: () => void seen.closed++,
  });
}

function fresh(): Seen {
  return { streamed: new Map(), collected: [], ready: 0, closed: 0, misaligned: 0 };
}

/** Feeds `bytes` cut at random places (including single bytes), like TCP reads. */
function feedSplit(r: RingStreamReader, bytes: Buffer, rand: () => number): void {
  let p = 0;
  while (p < bytes.length) {
    const k = Math.max(1, Math.floor(rand() * (rand() < 0.3 ? 7 : 300)));
    // Copy each read to an arbitrary offset of a fresh buffer, as socket reads land anywhere.
    const shift = Math.floor(rand() * 4);
    const chunk = Buffer.alloc(k + shift);
    bytes.copy(chunk, shift, p, p + k);
    r.push(chunk.subarray(shift, shift + Math.min(k, bytes.length - p)));
    p += k;
  }
}

function code(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
}

describe('RingStreamReader', () => {
  it('streams every payload whole and aligned, however the socket splits the bytes', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 40; trial++) {
      const frames: Buffer[] = [];
      const want = new Map<number, number[]>();
      let offset = 0;
      for (let i = 0; i < 6; i++) {
        const count = 1 + Math.floor(rand() * 200);
        const values = Array.from({ length: count }, () => Math.fround(rand() * 100 - 50));
        want.set(offset, values);
        const payload = Buffer.from(Float32Array.from(values).buffer);
        const fromClient = rand() < 0.5;
        frames.push(rand() < 0.2 ? masked(Buffer.concat([dataFrameHead(header({ offset, count }), 0, false).subarray(-FRAME_HEADER_BYTES), payload]), [1, 2, 3, 250]) : dataFrame(header({ offset, count }), payload, fromClient));
        // Interleave the framing's odds and ends: a ping, and a frame to collect.
        if (i === 2) frames.push(Buffer.from([0x89, 0x00]));
        offset += count;
      }
      const seen = fresh();
      feedSplit(reader(seen), Buffer.concat(frames), rand);
      expect(seen.misaligned).toBe(0);
      expect(seen.streamed).toEqual(want);
    }
  });

  it('collects frames routed aside, and reports ready and close', () => {
    const seen = fresh();
    const r = reader(seen);
    const later = dataFrame(header({ seq: 2, offset: 4, count: 2 }), Buffer.from(Float32Array.of(1.5, -2).buffer), true);
    const last = dataFrame(header({ seq: 3, count: 1 }), Buffer.from(Float32Array.of(9).buffer), false);
    feedSplit(r, Buffer.concat([readyFrame(), later, last, wsCloseFrame(true)]), mulberry32(3));
    expect(seen.ready).toBe(1);
    expect(seen.collected.map((c) => [c.h.seq, c.h.offset, Array.from(new Float32Array(c.payload.buffer, c.payload.byteOffset, c.h.count))])).toEqual([
      [2, 4, [1.5, -2]],
      [3, 0, [9]],
    ]);
    expect(seen.closed).toBe(1);
  });

  it('streams float16 payloads in whole 2-byte elements', () => {
    const got: number[] = [];
    const r = new RingStreamReader(LIMIT, {
      route: () => ({ piece: (b, at) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2).forEach((v, i) => (got[at + i] = v)) }),
      end: () => undefined, ready: () => undefined, closed: () => undefined,
    });
    const values = Uint16Array.from({ length: 301 }, (_, i) => i * 7);
    feedSplit(r, dataFrame(header({ dtype: Dtype.F16, count: 301 }), Buffer.from(values.buffer), false), mulberry32(11));
    expect(got).toEqual(Array.from(values));
  });

  it('throws RT_BAD_FRAME for anything out of shape', () => {
    const ok = dataFrame(header({ count: 2 }), Buffer.alloc(8), false);
    const text = Buffer.from(ok);
    text[0] = 0x81;
    const fragmented = Buffer.from(ok);
    fragmented[0] = 0x02;
    const rsv = Buffer.from(ok);
    rsv[0]! |= 0x40;
    // Refused at its header, before any of the payload it announces arrives.
    const bigAnnounce = Buffer.concat([wsBinaryHeader(FRAME_HEADER_BYTES + LIMIT * 4, false), (() => {
      const h = Buffer.alloc(FRAME_HEADER_BYTES);
      writeFrameHeader(h, header({ count: LIMIT }));
      return h;
    })()]);
    // `ok` has a 2-byte WebSocket header (payload < 126 bytes): the ring header starts at byte 2.
    const unknownKind = Buffer.from(ok);
    unknownKind[2] = 9;
    // Kind 5 was a header whose payload came as the next frame; no ringtrain of this version sends it.
    const headerOnly = Buffer.from(ok);
    headerOnly[2] = 5;
    const handshake = Buffer.from(ok);
    handshake[2] = FrameKind.Hello;
    const badDtype = Buffer.from(ok);
    badDtype[3] = 7;
    const hugePing = Buffer.from([0x89, 126, 0, 200]);
    const cases: [string, Buffer][] = [
      ['a text frame', text],
      ['a fragmented message', fragmented],
      ['reserved bits', rsv],
      ['a payload that is not count elements', dataFrame(header({ count: 3 }), Buffer.alloc(8), false)],
      ['a header announcing more than the limit', bigAnnounce],
      ['an unknown frame kind', unknownKind],
      ['a header-only data frame (kind 5)', headerOnly],
      ['a handshake frame after the handshake', handshake],
      ['an unknown dtype', badDtype],
      ['an oversized control frame', hugePing],
      ['a frame shorter than a ring header', wsWrap(Buffer.alloc(5), false)],
    ];
    for (const [what, bytes] of cases) {
      expect([what, code(() => reader(fresh()).push(bytes))]).toEqual([what, 'RT_BAD_FRAME']);
    }
  });

  it('never fails with anything but RT_BAD_FRAME on mutated or random bytes (seeded)', () => {
    const rand = mulberry32(20261128);
    const good = Buffer.concat([readyFrame(), dataFrame(header({ count: 40 }), Buffer.alloc(160, 1), true), dataFrame(header({ seq: 2, count: 3 }), Buffer.alloc(12, 2), false)]);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(good);
      for (let m = 0; m < 1 + Math.floor(rand() * 4); m++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      const input = rand() < 0.2 ? Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))) : bytes;
      const c = code(() => feedSplit(reader(fresh()), input, rand));
      if (c !== null) {
        expect(c).toBe('RT_BAD_FRAME');
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });

  it('lets a link read stored-unchanged payloads straight into place and every other byte by frame part', () => {
    // Frames whose seq is 2 are "all-gather" copies (bytesAt); seq 1 are added (piece); one is masked.
    const dest = new Uint8Array(72_000);
    const pieces: Buffer[] = [];
    let viaBytesAt = 0;
    const r = new RingStreamReader(LIMIT, {
      route: (h): Route => {
        if (h.seq === 1) return { anyAlignment: true, piece: (b) => void pieces.push(Buffer.from(b)) };
        return {
          piece: () => expect.unreachable('a bytesAt target gets no pieces'),
          bytesAt: (from, length) => {
            viaBytesAt++;
            return dest.subarray(h.offset * 4 + from, h.offset * 4 + from + length);
          },
        };
      },
      end: () => undefined,
      ready: () => undefined,
      closed: () => undefined,
    });
    const added = Buffer.from(Float32Array.from({ length: 100 }, (_, i) => i).buffer);
    // Over 64 KiB, so its WebSocket header has the 64-bit length, as a ring chunk's does.
    const copyA = Buffer.from(Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff));
    const copyB = Buffer.from(Uint8Array.from({ length: 800 }, (_, i) => (i * 13 + 1) & 0xff));
    const ringHead = Buffer.alloc(FRAME_HEADER_BYTES);
    writeFrameHeader(ringHead, header({ seq: 2, offset: 17_500, count: 200 }));
    const stream = Buffer.concat([
      dataFrame(header({ seq: 2, count: 17_500 }), copyA, true),
      dataFrame(header({ seq: 1, count: 100 }), added, true),
      readyFrame(),
      masked(Buffer.concat([ringHead, copyB]), [1, 2, 3, 4]),
    ]);
    // Read as PeerLink does: straight into place where the reader offers it, else at most the
    // frame part in progress, and sometimes less (a short read), into a scratch buffer.
    const rand = mulberry32(7);
    let p = 0;
    let direct = 0;
    while (p < stream.length) {
      const into = r.directTarget();
      const room = into ? into.length : r.partRoom();
      expect(room).toBeGreaterThan(0);
      const k = Math.min(room, stream.length - p, rand() < 0.3 ? 1 + Math.floor(rand() * room) : room);
      if (into) {
        stream.copy(into, 0, p, p + k);
        r.placed(k);
        direct += k;
      } else r.push(Buffer.from(stream.subarray(p, p + k)));
      p += k;
    }
    // The unmasked copy went in place whole; the masked one was unmasked through bytesAt.
    expect(direct).toBe(70_000);
    expect(Buffer.from(dest.subarray(0, 70_000)).equals(copyA)).toBe(true);
    expect(Buffer.from(dest.subarray(70_000, 70_800)).equals(copyB)).toBe(true);
    expect(viaBytesAt).toBeGreaterThan(1);
    expect(Buffer.concat(pieces).equals(added)).toBe(true);
    // Placing bytes the reader did not offer room for is a bad frame, not a silent overrun.
    expect(code(() => r.placed(1))).toBe('RT_BAD_FRAME');
  });
});
