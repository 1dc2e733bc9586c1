/**
 * The stall inspector and the ring-failure round in memory (coordinator/stall-inspector.ts,
 * ring-blame.ts): timeouts come at --step-timeout on the fake clock, and the blame falls on the
 * rank that stalled, not on the ones waiting behind it.
 */
import { describe, expect, it } from 'vitest';
import { StallInspector } from '../../src/coordinator/stall-inspector.js';
import { RingFailureRound } from '../../src/coordinator/ring-blame.js';
import { FakeClock } from '../helpers/coordinator-fakes.js';

const rules = { stepTimeoutMs: 60_000, warnMs: 10_000, slackMs: 2_000 };

describe('stall inspector', () => {
  it('waits until --step-timeout after the last commit, then blames the ranks missing from the stalled step', () => {
    const clock = new FakeClock();
    const st = new StallInspector(3, clock.now(), rules);
    clock.advance(59_999);
    const before = st.check(clock.now(), [2], [0, 0, 0]);
    expect(before.kind).toBe('wait');
    if (before.kind === 'wait') expect(before.ms).toBe(1);
    clock.advance(1);
    const after = st.check(clock.now(), [2], [0, 0, 0]);
    expect(after).toEqual({ kind: 'timeout', blame: { culprits: [2], how: 'missing reports' }, waitedMs: 60_000 });
  });

  it('a commit restarts the clock: no timeout a step-timeout after the start when a step was committed since', () => {
    const clock = new FakeClock();
    const st = new StallInspector(2, clock.now(), rules);
    clock.advance(50_000);
    st.progressed(clock.now());
    clock.advance(50_000);
    expect(st.check(clock.now(), null, [clock.now(), clock.now()]).kind).toBe('wait');
  });

  it('when no rank reported, the rank whose last sign of life is clearly oldest is blamed, not those blocked behind it', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const st = new StallInspector(3, t0, rules);
    clock.advance(30_000);
    st.heardFrom(0, clock.now());
    st.heardFrom(2, clock.now());
    clock.advance(30_000);
    // Pongs: ranks 0 and 2 answer every heartbeat; rank 1 went silent at t0.
    const check = st.check(clock.now(), null, [clock.now() - 500, t0, clock.now() - 1_000]);
    expect(check.kind === 'timeout' && check.blame).toEqual({ culprits: [1], how: 'oldest sign of life' });
  });

  it('a rank whose pongs keep coming is not blamed though it sent no message', () => {
    const clock = new FakeClock();
    const st = new StallInspector(2, clock.now(), rules);
    st.heardFrom(0, clock.advance(10));
    clock.advance(60_000);
    const check = st.check(clock.now(), null, [clock.now() - 60_000, clock.now() - 100]);
    expect(check.kind === 'timeout' && check.blame.culprits).toEqual([0]);
  });

  it('all ranks quiet together (the coordinator itself was frozen): nobody is blamed', () => {
    const clock = new FakeClock();
    const st = new StallInspector(3, clock.now(), rules);
    clock.advance(90_000);
    const check = st.check(clock.now(), null, [clock.now() - 80_000, clock.now() - 79_000, clock.now() - 80_500]);
    expect(check.kind === 'timeout' && check.blame).toEqual({ culprits: [], how: 'none stands out' });
  });

  it('warns every --stall-warn interval, naming the ranks waited for (every rank when none reported)', () => {
    const clock = new FakeClock();
    const st = new StallInspector(3, clock.now(), rules);
    clock.advance(9_999);
    const quiet = st.check(clock.now(), null, [0, 0, 0]);
    expect(quiet.kind === 'wait' && quiet.warn).toBeNull();
    clock.advance(1);
    const first = st.check(clock.now(), [1], [0, 0, 0]);
    expect(first.kind === 'wait' && first.warn).toEqual({ waitingForRanks: [1], waitedMs: 10_000 });
    clock.advance(5_000);
    const soon = st.check(clock.now(), [1], [0, 0, 0]);
    expect(soon.kind === 'wait' && soon.warn).toBeNull();
    clock.advance(5_000);
    const again = st.check(clock.now(), null, [0, 0, 0]);
    expect(again.kind === 'wait' && again.warn).toEqual({ waitingForRanks: [0, 1, 2], waitedMs: 20_000 });
  });
});

describe('ring failure round', () => {
  const describeRank = (r: number): string => `host${r}`;

  it('collects reports for the grace period, closing early when every rank reported, and drops the higher end of the one cut link', () => {
    const clock = new FakeClock();
    const round = new RingFailureRound({ rank: 1, peer: { rank: 2, link: 'successor' } }, 3, clock.now(), 3_000);
    expect(round.collecting(clock.now())).toBe(true);
    round.onReport({ rank: 2, peer: { rank: 1, link: 'predecessor' } });
    expect(round.collecting(clock.advance(100))).toBe(true);
    round.onReport({ rank: 0, peer: null });
    expect(round.collecting(clock.now())).toBe(false);
    const d = round.decide('rank 1 reports a broken ring', describeRank);
    expect(d.evict).toEqual([2]);
    expect(d.why).toMatch(/^rank\(s\) 2 \(host2\) dropped by higher rank of the one broken link/);
  });

  it('a loss during the grace decides: only the lost rank goes, and it is not evicted twice', () => {
    const clock = new FakeClock();
    const round = new RingFailureRound({ rank: 0, peer: { rank: 1, link: 'successor' } }, 3, clock.now(), 3_000);
    round.onLost(1, 'socket closed');
    expect(round.collecting(clock.now())).toBe(false);
    const d = round.decide('rank 0 reports a broken ring', describeRank);
    expect([d.lost, d.evict, d.verdict.drop]).toEqual([[1], [], [1]]);
    expect(d.why).toMatch(/^rank 1 \(host1\) was lost: socket closed; rank 0/);
  });

  it('one report alone at the deadline drops nobody', () => {
    const clock = new FakeClock();
    const round = new RingFailureRound({ rank: 2, peer: { rank: 0, link: 'mesh' } }, 3, clock.now(), 3_000);
    expect(round.collecting(clock.advance(3_000))).toBe(false);
    const d = round.decide('rank 2 reports a broken ring', describeRank);
    expect(d.evict).toEqual([]);
    expect(d.why).toMatch(/nobody dropped/);
  });
});
