/**
 * Recursive halving-doubling in memory (tests/helpers/memory-links.ts): bit for bit its reference
 * order (tests/helpers/allreduce-reference.ts) under float32 and float16, on every rank, for
 * powers of two and for worlds with extra ranks folded in.
 */
import { describe, expect, it } from 'vitest';
import { HalvingDoubling } from '../../src/shared/collective/halving-doubling.js';
import { f16Codec, f32Codec } from '../../src/shared/collective/wire-codec.js';
import { expectReferenceSums, memoryMesh } from '../helpers/memory-links.js';
import { exactWire, f16Wire, halvingDoublingReference } from '../helpers/allreduce-reference.js';

describe('halving-doubling (in memory)', () => {
  for (const [name, codec, wire] of [['float32', f32Codec, exactWire], ['float16', f16Codec, f16Wire]] as const) {
    it(`${name}: every rank holds the reference sum bit for bit, for N = 2, 3, 4, 5, 8 and chunks of 7 and 1000 values`, async () => {
      const early = await expectReferenceSums((net, n, chunk) => memoryMesh(net, n, chunk, (s, m) => new HalvingDoubling(s, m)), (inputs) => halvingDoublingReference(inputs, wire), codec, [2, 3, 4, 5, 8], (diff, what) => expect(diff, what).toBe(-1));
      expect(early).toBeGreaterThan(0);
    });
  }
});
