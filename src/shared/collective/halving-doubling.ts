/**
 * Recursive halving-doubling (Rabenseifner; mid-sized buffers when N is a power of two) among the
 * core ranks, over the mesh links: a reduce-scatter by recursive halving (each round keeps half of
 * the current range, sends the other half to the partner and adds the partner's copy of the kept
 * half), then an all-gather by recursive doubling in reverse order. Same bytes as the ring, but
 * 2·log2(P) rounds instead of 2(N-1) hops. Each value is summed by exactly one rank and copied to
 * the others, so all ranks end bit-identical. Extra ranks fold in as for recursive doubling.
 */
import { segmentBounds, type Span } from '../kernels/flat.js';
import type { AllreduceCall } from './algorithm.js';
import { FoldedExchange } from './recursive-doubling.js';

/** Recursive halving-doubling of one rank over its mesh links. */
export class HalvingDoubling extends FoldedExchange {
  protected async exchange(call: AllreduceCall, partners: readonly number[]): Promise<void> {
    const { buf, seq, codec } = call;
    const { mesh } = this;
    const ranges: Span[] = [];
    let range: Span = { start: 0, length: buf.length };
    for (let k = 0; k < partners.length; k++) {
      const partner = partners[k]!;
      const lower = segmentBounds(range.length, 2, 0);
      const a: Span = { start: range.start, length: lower.length };
      const b: Span = { start: range.start + lower.length, length: range.length - lower.length };
      const [keep, give] = this.state.rank < partner ? [a, b] : [b, a];
      const [, frames] = await Promise.all([mesh.sendSpan(partner, seq, k + 1, buf, give, codec, false), mesh.receive(partner, seq, k + 1, keep, codec)]);
      mesh.apply(frames, buf, codec, true);
      ranges.push(range);
      range = keep;
    }
    for (let k = partners.length - 1; k >= 0; k--) {
      const partner = partners[k]!;
      const whole = ranges[k]!;
      const other: Span = range.start === whole.start ? { start: whole.start + range.length, length: whole.length - range.length } : { start: whole.start, length: whole.length - range.length };
      // The first all-gather send carries this rank's finished sums: round its own copy too (fp16).
      const hop = 2 * partners.length - k;
      const [, frames] = await Promise.all([mesh.sendSpan(partner, seq, hop, buf, range, codec, true), mesh.receive(partner, seq, hop, other, codec)]);
      mesh.apply(frames, buf, codec, false);
      range = whole;
    }
  }
}
