/**
 * State adoption in memory (coordinator/adoption.ts with state-check.ts's checks): the most
 * advanced valid survivor wins, invalid states are refused and their senders evicted, and a loss,
 * a silent survivor or a closed socket during the pause cost only that survivor.
 */
import { describe, expect, it } from 'vitest';
import { PauseRound, StateJudge, pickReconnected, reconnectMaxStep } from '../../src/coordinator/adoption.js';
import { ChecksumLog } from '../../src/coordinator/state-check.js';
import { StepLedger } from '../../src/coordinator/accounting.js';
import { resolveOptimizer } from '../../src/shared/optim/index.js';
import { checksum } from '../../src/shared/kernels/flat.js';
import { planStep } from '../../src/shared/data/sampler.js';
import type { StateMsg, TrainState } from '../../src/shared/protocol/protocol.js';
import { freshState } from '../helpers/train-state.js';
import { FakeClock, hello, terminated } from '../helpers/coordinator-fakes.js';

const P = 8;
const G = 3;
const judge = (log = new ChecksumLog()): StateJudge => new StateJudge({ paramCount: P, dataSize: 100, epochs: 2, optimizer: resolveOptimizer({ lr: 1e-3 }) }, log);
const at = (step: number, fill = step): TrainState => ({ ...freshState(P, step), cursor: step * 10, params: new Float32Array(P).fill(fill) });
const state = (st: TrainState | null, generation = G): StateMsg => ({ type: 'state', generation, state: st });

/** A pause of members with connection ids 10, 11, 12 (ranks 0..2), all open, at `clock`. */
function pause(clock: FakeClock, open = [0, 1, 2]): PauseRound {
  return new PauseRound([10, 11, 12], open, G, clock.now(), 30_000);
}

describe('adoption at a pause', () => {
  it('adopts the most advanced valid survivor\'s state', () => {
    const clock = new FakeClock();
    const round = pause(clock);
    const refuse = (st: TrainState): string | null => judge().refuse(st, 20);
    expect(round.start(5).map((a) => (a.do === 'send' ? [a.to, a.msg] : null))).toEqual([10, 11, 12].map((id) => [id, { type: 'pause', generation: G, atStep: 5 }]));
    round.onState(0, state(at(5)), refuse);
    round.onState(1, state(at(6)), refuse);
    round.onState(2, state(at(5)), refuse);
    expect(round.waiting).toBe(false);
    expect(round.newest(at(4)).step).toBe(6);
    expect(round.lost.size).toBe(0);
  });

  it('refuses an invalid state (poisoned weights) even when most advanced, evicts its sender and adopts the best valid one', () => {
    const clock = new FakeClock();
    const round = pause(clock);
    const refuse = (st: TrainState): string | null => judge().refuse(st, 20);
    round.onState(0, state(at(5)), refuse);
    const poisoned = at(7);
    poisoned.params[3] = NaN;
    const actions = round.onState(1, state(poisoned), refuse);
    expect(terminated(actions)).toEqual([11]);
    round.onState(2, state(at(6)), refuse);
    expect([...round.lost]).toEqual([1]);
    expect(round.newest(at(4)).step).toBe(6);
  });

  it('refuses a state beyond the steps this run planned, and one whose weights differ from the checksum every rank agreed on', () => {
    const log = new ChecksumLog();
    log.record(5, checksum(at(5).params));
    const j = judge(log);
    expect(j.refuse(at(9), 8)).toMatch(/beyond the 8 steps/);
    expect(j.refuse(at(5, 42), 8)).toMatch(/differ from the checksum/);
    expect(j.refuse(at(5), 8)).toBeNull();
  });

  it('race: a loss during the pause drops that rank only; the others\' newest state wins', () => {
    const clock = new FakeClock();
    const round = pause(clock);
    const refuse = (): null => null;
    round.onState(0, state(at(5)), refuse);
    round.onLost(2);
    expect(round.waiting).toBe(true);
    round.onState(1, state(at(6)), refuse);
    expect(round.waiting).toBe(false);
    expect([...round.lost]).toEqual([2]);
    expect(round.newest(at(4)).step).toBe(6);
  });

  it('a survivor silent until the deadline is dropped and terminated; one already closed is not waited for', () => {
    const clock = new FakeClock();
    const round = pause(clock, [0, 1]); // rank 2's socket closed before the pause
    expect(round.lost.has(2)).toBe(true);
    round.onState(0, state(at(5)), () => null);
    clock.advance(30_000);
    expect(clock.now()).toBe(round.deadline);
    expect(terminated(round.onTimeout())).toEqual([11]);
    expect(round.waiting).toBe(false);
    expect([...round.lost].sort()).toEqual([1, 2]);
  });

  it('states of another generation are ignored; with no state ahead the current one stays', () => {
    const round = pause(new FakeClock());
    round.onState(0, state(at(9), G - 1), () => null);
    expect(round.waiting).toBe(true);
    const current = at(4);
    for (const r of [0, 1, 2]) round.onState(r, state(null), () => null);
    expect(round.newest(current)).toBe(current);
  });
});

describe('a reconnected worker after a coordinator restart', () => {
  it('asks the worker holding the newest state of this run, ignoring other runs and states not ahead of ours', () => {
    const peers = [
      { id: 1, hello: hello(1, { appliedSteps: 12, stateFingerprint: 'run-a' }) },
      { id: 2, hello: hello(2, { appliedSteps: 30, stateFingerprint: 'run-b' }) },
      { id: 3, hello: hello(3, { appliedSteps: 15, stateFingerprint: 'run-a' }) },
      { id: 4, hello: hello(4, { appliedSteps: 15, stateFingerprint: 'run-a' }) },
    ];
    expect(pickReconnected(peers, 'run-a', 10)?.id).toBe(3);
    expect(pickReconnected(peers, 'run-a', 15)).toBeNull();
  });

  it('right after a restart a state may be ahead by --checkpoint-every plus the batches in flight; later only what was planned', () => {
    expect(reconnectMaxStep({ fresh: true, ourStep: 20, checksumFrontier: 22, checkpointEvery: 10, prefetchSteps: 8, plannedUpTo: 0 })).toBe(41);
    expect(reconnectMaxStep({ fresh: false, ourStep: 20, checksumFrontier: 22, checkpointEvery: 10, prefetchSteps: 8, plannedUpTo: 25 })).toBe(25);
  });
});

describe('sample accounting across an adoption', () => {
  it('adopting a survivor one step ahead accounts that step\'s samples once; a state from a previous coordinator marks its gap once', () => {
    const ledger = new StepLedger(100, 1, { step: 0, epoch: 0, cursor: 0 });
    let pos = { step: 0, epoch: 0, cursor: 0 };
    for (let i = 0; i < 3; i++) {
      const p = planStep(pos, 100, 10, 2, 1)!;
      ledger.plan(p);
      pos = p.next;
    }
    ledger.account(0);
    ledger.adopt({ step: 1, epoch: 0, cursor: 20 }, { step: 2, epoch: 0, cursor: 40 });
    ledger.account(1); // already accounted by the adoption: not twice
    expect(ledger.samplesTrained).toBe(40);
    ledger.forgetFrom(2);
    ledger.adopt({ step: 2, epoch: 0, cursor: 40 }, { step: 4, epoch: 0, cursor: 80 });
    const r = ledger.accounting.report(1);
    expect([r.duplicateSamples, r.missingSamples, r.samplesPerEpoch[0]]).toEqual([0, 20, 80]);
  });
});
