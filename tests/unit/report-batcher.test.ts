/**
 * When held step reports leave (ReportBatcher), on a clock driven by hand: at the batch size, at
 * the hold limit (by the timer, or by the age check of a later report), on flush, and never a
 * moment later than the hold limit.
 */
import { describe, expect, it } from 'vitest';
import { ReportBatcher, type BatchClock } from '../../src/shared/transport/report-batcher.js';

/** A clock whose time moves only when `advance` says, firing the timers that fall due. */
class ManualClock implements BatchClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.t = due.at;
      this.clearTimer(due.id);
      due.fn();
    }
    this.t = end;
  }
}

const HOLD = 25;
function setup(maxItems = 4): { clock: ManualClock; sent: { at: number; items: number[] }[]; b: ReportBatcher<number> } {
  const clock = new ManualClock();
  const sent: { at: number; items: number[] }[] = [];
  const b = new ReportBatcher<number>((items) => sent.push({ at: clock.now(), items }), { maxItems, holdMs: HOLD }, clock);
  return { clock, sent, b };
}

describe('ReportBatcher', () => {
  it('holds items until maxItems, then sends them at once, in order', () => {
    const { sent, b } = setup(4);
    [0, 1, 2].forEach((i) => b.add(i));
    expect(sent).toEqual([]);
    expect(b.size).toBe(3);
    b.add(3);
    expect(sent).toEqual([{ at: 0, items: [0, 1, 2, 3] }]);
    expect(b.size).toBe(0);
  });

  it('sends a lone item when its hold runs out, not a moment later, and not before', () => {
    const { clock, sent, b } = setup();
    clock.advance(100);
    b.add(7);
    clock.advance(HOLD - 1);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ at: 100 + HOLD, items: [7] }]);
    expect(clock.pending).toBe(0);
  });

  it('counts the hold from the first item held: later items leave with it', () => {
    const { clock, sent, b } = setup();
    b.add(1);
    clock.advance(10);
    b.add(2);
    clock.advance(HOLD - 10);
    expect(sent).toEqual([{ at: HOLD, items: [1, 2] }]);
  });

  it('sends at once when an item comes after the hold ran out (a timer that fired late)', () => {
    const clock = new ManualClock();
    const sent: number[][] = [];
    // No timer at all: only the age check can send.
    const lazy: BatchClock = { now: () => clock.now(), setTimer: () => 0, clearTimer: () => undefined };
    const b = new ReportBatcher<number>((items) => sent.push(items), { maxItems: 4, holdMs: HOLD }, lazy);
    b.add(1);
    clock.advance(HOLD);
    expect(sent).toEqual([]);
    b.add(2);
    expect(sent).toEqual([[1, 2]]);
  });

  it('flushes on demand (nothing when nothing is held), and clear drops items and their timer', () => {
    const { clock, sent, b } = setup();
    b.flush();
    expect(sent).toEqual([]);
    b.add(1);
    b.flush();
    expect(sent).toEqual([{ at: 0, items: [1] }]);
    expect(clock.pending).toBe(0);
    b.add(2);
    b.clear();
    clock.advance(HOLD * 2);
    expect(sent).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });
});
