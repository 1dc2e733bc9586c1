/**
 * The step pipeline in memory (coordinator/step-pipeline.ts): the prefetch window, report
 * admission, commits in order once every rank reported, rank 0's states, and the generation's end.
 */
import { describe, expect, it } from 'vitest';
import { StepPipeline, type PipelineRules } from '../../src/coordinator/step-pipeline.js';
import type { PlannedStep } from '../../src/shared/data/sampler.js';
import type { TrainState } from '../../src/shared/protocol/protocol.js';
import { freshState } from '../helpers/train-state.js';
import { stepDone } from '../helpers/coordinator-fakes.js';

// 2 ranks × 10 samples per step over 100 samples: 5 steps per epoch, 2 epochs.
const rules: PipelineRules = { dataSize: 100, perRankStep: 10, worldSize: 2, epochs: 2, checkpointEvery: 3, checksumEvery: 4, prefetchSteps: 2 };
const G = 7;

function pipeline(over: Partial<PipelineRules> = {}, start = { step: 0, epoch: 0, cursor: 0 }): { pipe: StepPipeline; planned: Map<number, PlannedStep> } {
  const pipe = new StepPipeline({ ...rules, ...over }, G, start);
  return { pipe, planned: new Map() };
}

/** Sends what the pipeline plans for `committed`, remembering the planned steps. */
function send(x: { pipe: StepPipeline; planned: Map<number, PlannedStep> }, committed: number, joinPending = false): number[] {
  return x.pipe.dispatch(committed, joinPending).map((d) => {
    x.planned.set(d.p.step, d.p);
    return d.p.step;
  });
}

describe('prefetch window', () => {
  it('sends up to --prefetch steps past the next one to commit, and no further', () => {
    const x = pipeline();
    expect(send(x, 0)).toEqual([0, 1, 2]);
    expect(send(x, 0)).toEqual([]);
    expect(send(x, 2)).toEqual([3, 4]);
  });

  it('sends nothing more once a join is pending, so the generation can reach a boundary', () => {
    const x = pipeline();
    send(x, 0);
    expect(send(x, 1, true)).toEqual([]);
  });

  it('asks for rank 0\'s state at epoch ends, at the last step and every --checkpoint-every steps; checksums on those and every --checksum-every', () => {
    const x = pipeline({ prefetchSteps: 20 });
    const sent = x.pipe.dispatch(0, false);
    expect(sent.length).toBe(10);
    expect(sent.filter((d) => d.wantState).map((d) => d.p.step)).toEqual([2, 4, 5, 8, 9]);
    expect(sent.filter((d) => d.wantChecksum).map((d) => d.p.step)).toEqual([2, 3, 4, 5, 7, 8, 9]);
  });
});

describe('commits', () => {
  it('a step is committed only once every rank reported it, and steps commit in order', () => {
    const x = pipeline();
    send(x, 0);
    expect(x.pipe.onReport(1, stepDone(G, 0)).kind).toBe('accepted');
    expect(x.pipe.onReport(1, stepDone(G, 1)).kind).toBe('accepted');
    expect(x.pipe.takeCommit(0)).toBeNull();
    expect(x.pipe.missing(0)).toEqual([0]);
    expect(x.pipe.onReport(0, stepDone(G, 0)).kind).toBe('accepted');
    expect(x.pipe.takeCommit(0)?.step).toBe(0);
    expect(x.pipe.takeCommit(1)).toBeNull(); // rank 0 has not reported step 1
  });

  it('race: a duplicate report is dropped and does not stand in for the rank that has not reported', () => {
    const x = pipeline();
    send(x, 0);
    x.pipe.onReport(0, stepDone(G, 0));
    const dup = x.pipe.onReport(0, stepDone(G, 0));
    expect(dup.kind).toBe('drop');
    expect(x.pipe.takeCommit(0)).toBeNull();
    expect(x.pipe.missing(0)).toEqual([1]);
  });

  it('a report of a step ahead of the rank\'s next, or of a step never sent, evicts its sender', () => {
    const x = pipeline();
    send(x, 0);
    const early = x.pipe.onReport(1, stepDone(G, 1));
    expect(early).toEqual({ kind: 'evict', why: 'rank 1 reported step 1 before step 0' });
    const y = pipeline({ prefetchSteps: 0 });
    send(y, 0);
    y.pipe.onReport(0, stepDone(G, 0));
    expect(y.pipe.onReport(0, stepDone(G, 1))).toEqual({ kind: 'evict', why: 'rank 0 reported step 1, which was never sent' });
  });

  it('a report of another generation is ignored', () => {
    const x = pipeline();
    send(x, 0);
    expect(x.pipe.onReport(0, stepDone(G - 1, 0)).kind).toBe('other-generation');
    expect(x.pipe.missing(0)).toBeNull();
  });

  it('ranks disagreeing on the all-reduced loss fail the commit with RT_REPLICA_DIVERGED', () => {
    const x = pipeline();
    send(x, 0);
    x.pipe.onReport(0, stepDone(G, 0));
    x.pipe.onReport(1, stepDone(G, 0, { loss: 0.25 }));
    expect(() => x.pipe.takeCommit(0)).toThrow(/disagree on the all-reduced loss/);
  });
});

describe('rank 0\'s states and the end of a generation', () => {
  const P = 4;
  const stateAfter = (p: PlannedStep): TrainState => ({ ...freshState(P, p.step + 1), epoch: p.next.epoch, cursor: p.next.cursor });

  it('a state is handled only after its step is committed, in step order', () => {
    const x = pipeline();
    send(x, 0);
    const planned = (s: number): PlannedStep | undefined => x.planned.get(s);
    expect(x.pipe.onState(stateAfter(x.planned.get(2)!), planned, () => null)).toBeNull();
    expect(x.pipe.takeState(2)).toBeNull();
    expect(x.pipe.takeState(3)?.step).toBe(2);
    expect(x.pipe.takeState(3)).toBeNull();
  });

  it('a state not asked for, one not where its step left the sampler, or one the judge refuses is refused', () => {
    const x = pipeline();
    send(x, 0);
    const planned = (s: number): PlannedStep | undefined => x.planned.get(s);
    expect(x.pipe.onState(stateAfter(x.planned.get(1)!), planned, () => null)).toMatch(/not asked for/);
    expect(x.pipe.onState({ ...stateAfter(x.planned.get(2)!), cursor: 10 }, planned, () => null)).toMatch(/cursor 10 where step 2 ends at epoch 0 cursor 60/);
    expect(x.pipe.onState(stateAfter(x.planned.get(2)!), planned, () => 'poisoned')).toBe('poisoned');
    expect(x.pipe.takeState(3)).toBeNull();
  });

  it('the generation is at a boundary when every sent step is committed and its state handled, and done after the last step', () => {
    const x = pipeline({ prefetchSteps: 20 });
    send(x, 0);
    expect(x.pipe.boundary(9)).toBeNull();
    const planned = (s: number): PlannedStep | undefined => x.planned.get(s);
    for (const s of [2, 4, 5, 8, 9]) x.pipe.onState(stateAfter(x.planned.get(s)!), planned, () => null);
    expect(x.pipe.boundary(10)).toBeNull(); // states not handled yet
    while (x.pipe.takeState(10) !== null);
    expect(x.pipe.boundary(10)).toBe('done');
    const y = pipeline({ prefetchSteps: 0 });
    send(y, 0);
    expect(y.pipe.boundary(1)).toBe('boundary');
  });
});
