import { describe, expect, it } from 'vitest';
import { decideRingFailure, type RingReport } from '../../src/coordinator/ring-blame.js';

const r = (rank: number, peer: number | null, link: 'successor' | 'predecessor' | 'mesh' = 'mesh'): RingReport => ({ rank, peer: peer === null ? null : { rank: peer, link } });

describe('decideRingFailure: whom to drop when the ring breaks', () => {
  it('a rank whose socket closed is the one lost, whatever the reports say', () => {
    expect(decideRingFailure([r(0, 1, 'successor'), r(2, 1, 'predecessor')], [1])).toEqual({ drop: [1], how: 'socket closed' });
    expect(decideRingFailure([], [2, 0, 2])).toEqual({ drop: [0, 2], how: 'socket closed' });
  });

  it('drops the rank two or more reporters name (the first to fail closes its other links)', () => {
    // Link 1-2 cut: rank 1 names 2, rank 2 names 1, and rank 0 names 1, whose failure closed its link to 0.
    expect(decideRingFailure([r(1, 2, 'successor'), r(0, 1, 'successor'), r(2, 1, 'predecessor')], [])).toEqual({ drop: [1], how: 'named by two or more' });
  });

  it('counts each reporter once: a repeated report does not make a second name', () => {
    expect(decideRingFailure([r(1, 2), r(1, 2), r(2, 1)], [])).toEqual({ drop: [2], how: 'higher rank of the one broken link' });
  });

  it('of the one broken link both ends report, drops the higher rank, whatever the order; one report alone drops nobody', () => {
    const want = { drop: [2], how: 'higher rank of the one broken link' };
    expect(decideRingFailure([r(1, 2, 'successor'), r(2, 1, 'predecessor')], [])).toEqual(want);
    expect(decideRingFailure([r(2, 1, 'predecessor'), r(1, 2, 'successor')], [])).toEqual(want);
    // A single report may echo another rank's failure (seen: 2 naming 1 after 0 and 1 lost their link).
    expect(decideRingFailure([r(2, 1), r(0, null)], [])).toEqual({ drop: [], how: 'none stands out' });
    expect(decideRingFailure([r(0, 3, 'predecessor'), r(3, 0, 'successor')], [])).toEqual({ drop: [3], how: 'higher rank of the one broken link' });
  });

  it('drops nobody when no report names a peer, or the names point at different links', () => {
    const none = { drop: [], how: 'none stands out' };
    expect(decideRingFailure([], [])).toEqual(none);
    expect(decideRingFailure([r(0, null), r(1, null), r(2, null)], [])).toEqual(none);
    // A stalled ring where each rank names its predecessor: three links, each named once.
    expect(decideRingFailure([r(0, 2, 'predecessor'), r(1, 0, 'predecessor'), r(2, 1, 'predecessor')], [])).toEqual(none);
    // A rank naming itself is no evidence.
    expect(decideRingFailure([r(1, 1)], [])).toEqual(none);
  });
});
