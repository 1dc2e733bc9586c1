/**
 * Seeded frame generators for the fuzz test: random bytes, valid messages with bytes flipped,
 * inserted or cut, valid messages with one field swapped for a value of the wrong type, and ring
 * frames with random headers. The same seed always yields the same frames, so a failure replays.
 */
import { Packr } from 'msgpackr';
import { mulberry32 } from '../../src/shared/base/rng.js';
import { encodeMessage, Dtype, FrameKind } from '../../src/shared/protocol/codec.js';
import type { Message } from '../../src/shared/protocol/protocol.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { ringFrame } from './peer.js';
import { freshState } from './train-state.js';

const packr = new Packr({ useRecords: false, moreTypes: true });

export class Fuzz {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** Flips, inserts or cuts a few bytes. */
  mutate(src: Buffer): Buffer {
    let b = Buffer.from(src);
    const edits = 1 + this.int(4);
    for (let e = 0; e < edits; e++) {
      const at = this.int(Math.max(1, b.length));
      switch (this.int(4)) {
        case 0:
          if (b.length > 0) b[at] = this.int(256);
          break;
        case 1:
          b = Buffer.concat([b.subarray(0, at), this.bytes(1 + this.int(8)), b.subarray(at)]);
          break;
        case 2:
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + this.int(8))]);
          break;
        default:
          b = b.subarray(0, at);
      }
    }
    return b;
  }

  /** A value of some random type, for swapping into a field. */
  value(): unknown {
    return this.pick<() => unknown>([
      () => null, () => -1, () => 2 ** 53, () => NaN, () => 'x'.repeat(this.int(6000)), () => [1, 2], () => ({}), () => true,
      () => new Float32Array(this.int(8)), () => new Uint8Array(this.int(64)), () => this.int(10),
    ])();
  }

  /** A valid message of a random type; the fuzzer then breaks it. */
  message(): Message {
    const t = { waitMs: 0, computeMs: 1, allreduceMs: 1, updateMs: 0, commMs: 1 };
    return this.pick<Message>([
      { type: 'hello', protocol: PROTOCOL_VERSION, ringUrl: 'ws://127.0.0.1:1', backend: 'cpu', host: 'fuzz', pid: 1, job: null, appliedSteps: this.int(5) - 1, stateFingerprint: null, proof: this.bytes(32), nonce: this.bytes(32) },
      { type: 'ring-ready', generation: 1, engine: 'cpu', engineReason: 'fuzz', device: 'CPU', threads: null, localData: false, fingerprint: { paramCount: 1, weights: [{ name: 'w', shape: [1], dtype: 'float32' }], architecture: 'fuzz' } },
      { type: 'reports', reports: [{ type: 'step-done', generation: 1, step: this.int(100), loss: 1, samples: 64, checksum: null, timings: t, skipped: false }] },
      { type: 'state', generation: 1, state: { ...freshState(601, this.int(50)), cursor: 64 } },
      { type: 'ring-failed', generation: 1, step: this.int(50), code: 'RT_RING_FAILED', message: 'fuzz' },
      { type: 'error', code: 'RT_INTERNAL', message: 'fuzz' },
      { type: 'go', generation: 1 },
      { type: 'finish' },
    ]);
  }

  /** One control-port frame. */
  controlFrame(): Buffer | string {
    const m = this.message();
    switch (this.int(5)) {
      case 0:
        return this.bytes(this.int(512));
      case 1:
        return this.mutate(encodeMessage(m));
      case 2: {
        const keys = Object.keys(m);
        return packr.pack({ ...m, [this.pick(keys)]: this.value() });
      }
      case 3:
        return packr.pack(this.value());
      default:
        return this.int(2) === 0 ? this.bytes(this.int(64)).toString('latin1') : encodeMessage(m);
    }
  }

  /** One ring-port frame: random headers around plausible and implausible payloads. */
  ringFrame(): Buffer | string {
    switch (this.int(4)) {
      case 0:
        return this.bytes(this.int(300));
      case 1: {
        const count = this.int(64);
        return ringFrame({ kind: this.pick([0, FrameKind.Hello, FrameKind.Data, FrameKind.Challenge, FrameKind.Accept, 9]), dtype: this.pick([0, Dtype.F32, Dtype.F16, 7]), hop: this.int(4), generation: this.int(3), seq: this.int(50), offset: this.int(700), count }, this.bytes(this.pick([count * 4, count * 2, 64, this.int(100)])));
      }
      case 2:
        return this.mutate(ringFrame({ kind: FrameKind.Hello, generation: 1, seq: this.int(2), count: 64 }, this.bytes(64)));
      default:
        return this.bytes(this.int(40)).toString('latin1');
    }
  }
}
