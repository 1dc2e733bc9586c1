/**
 * The worker's decisions on their own: the step machine (what each control message means, when
 * a step runs or the generation pauses, how a failed all-reduce ends), the reduced-buffer verdict,
 * and the reconnect policy, driven by plain messages and a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { Defaults } from '../../src/shared/base/constants.js';
import { ErrorCodes, RingtrainError } from '../../src/shared/base/errors.js';
import type { BatchMsg, CoordinatorToWorker } from '../../src/shared/protocol/protocol.js';
import { readReduced, StepMachine, waitFailed, type StepAction } from '../../src/worker/step-machine.js';
import { idleAction, offeredState, ReconnectPolicy } from '../../src/worker/reconnect.js';

const batch = (step: number, generation = 3): BatchMsg => ({
  type: 'batch', generation, step, epoch: 0, count: 2, nextEpoch: 0, nextCursor: 2 * (step + 1), checksum: false, sendState: false,
  tensors: { x: new Float32Array(2), y: new Float32Array(2) },
});
const go: CoordinatorToWorker = { type: 'go', generation: 3 };

function machine(step = 5): { m: StepMachine; tick: (ms: number) => void } {
  let now = 0;
  const m = new StepMachine({ generation: 3, step, stepTimeoutMs: 1234, clock: () => now });
  return { m, tick: (ms) => (now += ms) };
}

/** Runs the step the machine hands out as the runner would, committing it. */
function runStep(m: StepMachine): StepAction {
  const a = m.next();
  if (a.kind === 'step') m.committed();
  return a;
}

describe('step machine', () => {
  it('waits for the go with the ring and engine start allowance, then for each batch with the step timeout', () => {
    const { m } = machine();
    expect(m.onMessage(batch(5))).toEqual({ kind: 'kept' });
    // A batch before the go does not start a step.
    expect(m.next()).toEqual({ kind: 'wait', timeoutMs: Defaults.ringConnectTimeoutMs + Defaults.engineStartTimeoutMs, what: 'the go signal' });
    expect(m.onMessage(go)).toEqual({ kind: 'go' });
    expect(runStep(m)).toMatchObject({ kind: 'step', batch: { step: 5 } });
    expect(m.next()).toEqual({ kind: 'wait', timeoutMs: 1234, what: 'the batch for step 6' });
  });

  it('runs batches in step order whatever order they arrive in', () => {
    const { m } = machine();
    m.onMessage(go);
    for (const s of [7, 6, 5]) m.onMessage(batch(s));
    expect([runStep(m), runStep(m), runStep(m)].map((a) => (a.kind === 'step' ? a.batch.step : a.kind))).toEqual([5, 6, 7]);
    expect(m.next().kind).toBe('wait');
  });

  it('measures a step\'s wait from when it began waiting, across the messages in between', () => {
    const { m, tick } = machine();
    tick(100);
    m.onMessage(go);
    expect(m.next().kind).toBe('wait'); // the wait for step 5 begins at 100
    tick(30);
    m.onMessage({ type: 'start', generation: 4 } as CoordinatorToWorker);
    expect(m.next().kind).toBe('wait');
    tick(20);
    m.onMessage(batch(5));
    expect(m.next()).toMatchObject({ kind: 'step', waitStart: 100 });
    m.committed();
    tick(7);
    m.onMessage(batch(6));
    expect(m.next()).toMatchObject({ kind: 'step', waitStart: 157 });
  });

  it('ignores a repeated go, a batch of a past step or another generation, and out-of-order handshakes', () => {
    const { m } = machine();
    m.onMessage(go);
    m.onMessage(batch(5));
    runStep(m);
    expect(m.onMessage(go)).toEqual({ kind: 'ignored', why: 'repeat' });
    expect(m.onMessage(batch(5))).toEqual({ kind: 'ignored', why: 'stale-batch' });
    expect(m.onMessage(batch(6, 2))).toEqual({ kind: 'ignored', why: 'stale-batch' });
    expect(m.onMessage({ type: 'go', generation: 2 })).toEqual({ kind: 'ignored', why: 'other-generation' });
    expect(m.onMessage({ type: 'pause', generation: 2, atStep: null })).toEqual({ kind: 'ignored', why: 'other-generation' });
    expect(m.onMessage({ type: 'welcome', proof: null } as CoordinatorToWorker)).toEqual({ kind: 'ignored', why: 'out-of-order' });
    expect(m.next()).toMatchObject({ kind: 'wait', what: 'the batch for step 6' });
  });

  it('a pause at a step boundary runs the steps before it, then pauses', () => {
    const { m } = machine();
    m.onMessage(go);
    for (const s of [5, 6, 7]) m.onMessage(batch(s));
    m.onMessage({ type: 'pause', generation: 3, atStep: 7 });
    expect([runStep(m), runStep(m), runStep(m)].map((a) => a.kind)).toEqual(['step', 'step', 'pause']);
    expect(m.step).toBe(7);
  });

  it('a pause before the go pauses at once, without training', () => {
    const { m } = machine();
    m.onMessage(batch(5));
    m.onMessage({ type: 'pause', generation: 3, atStep: 9 });
    expect(m.next()).toEqual({ kind: 'pause' });
  });

  it('an immediate pause seen on arrival turns a failing all-reduce into an abandon; alone, a failure is a broken ring', () => {
    const { m } = machine();
    m.onMessage(go);
    m.onMessage(batch(5));
    expect(m.next().kind).toBe('step');
    expect(m.reduceFailed()).toBe('broken');

    const { m: n } = machine();
    n.onMessage(go);
    n.onMessage(batch(5));
    expect(n.next().kind).toBe('step');
    expect(n.onArrival({ type: 'pause', generation: 2, atStep: null })).toBeNull();
    expect(n.onArrival({ type: 'pause', generation: 3, atStep: 8 })).toBeNull();
    expect(n.onArrival({ type: 'pause', generation: 3, atStep: null })).toEqual({ kind: 'abandon' });
    expect(n.reduceFailed()).toBe('abandoned');
    // Nothing committed: the state reported is the one before step 5.
    expect(n.next()).toEqual({ kind: 'pause' });
    expect(n.step).toBe(5);
  });

  it('offers arriving batches of steps ahead for reading, not past ones', () => {
    const { m } = machine();
    expect(m.onArrival(batch(6))).toMatchObject({ kind: 'prefetch', batch: { step: 6 } });
    expect(m.onArrival(batch(4))).toBeNull();
    expect(m.onArrival(batch(6, 2))).toBeNull();
  });

  it('ends on finish and fails with the coordinator\'s error', () => {
    const { m } = machine();
    expect(m.onMessage({ type: 'finish' })).toEqual({ kind: 'finish' });
    const fail = m.onMessage({ type: 'error', code: ErrorCodes.NON_FINITE, message: 'rank 2 saw NaN' });
    expect(fail).toMatchObject({ kind: 'fail', error: { code: ErrorCodes.NON_FINITE, message: 'coordinator: rank 2 saw NaN' } });
  });
});

describe('a failed wait for the coordinator', () => {
  it('is a lost coordinator when it timed out (the worker reconnects), and itself otherwise', () => {
    const lost = waitFailed(new RingtrainError(ErrorCodes.TIMEOUT, 'timed out after 5 ms waiting for the batch for step 3'));
    expect(lost).toMatchObject({ code: ErrorCodes.COORDINATOR_LOST, message: expect.stringMatching(/the batch for step 3.*reconnecting/) });
    const closed = new RingtrainError(ErrorCodes.COORDINATOR_LOST, 'connection closed');
    expect(waitFailed(closed)).toBe(closed);
    expect(waitFailed(new RingtrainError(ErrorCodes.BAD_MESSAGE, 'x')).code).toBe(ErrorCodes.BAD_MESSAGE);
  });
});

describe('reduced step verdict', () => {
  const reduced = (...v: number[]): Float32Array => Float32Array.from(v);

  it('reads the global mean loss and sample count from the tail', () => {
    expect(readReduced(reduced(1, 2, 12, 4), 2, 'skip', 0)).toEqual({ loss: 3, samples: 4, skipped: false });
  });

  it('skips a step whose reduced gradient or loss is not finite, or aborts under --on-nonfinite abort', () => {
    expect(readReduced(reduced(1, NaN, 12, 4), 2, 'skip', 0).skipped).toBe(true);
    expect(readReduced(reduced(1, 2, Infinity, 4), 2, 'skip', 0).skipped).toBe(true);
    expect(() => readReduced(reduced(1, NaN, 12, 4), 2, 'abort', 9)).toThrow(expect.objectContaining({ code: ErrorCodes.NON_FINITE, message: expect.stringMatching(/step 9/) }));
  });
});

describe('worker between generations', () => {
  it('acts on finish, error, pause and start, and ignores the rest', () => {
    expect(idleAction({ type: 'finish' })).toEqual({ kind: 'finish' });
    expect(idleAction({ type: 'error', code: ErrorCodes.AUTH_FAILED, message: 'x' })).toMatchObject({ kind: 'fail', error: { code: ErrorCodes.AUTH_FAILED } });
    expect(idleAction({ type: 'pause', generation: 4, atStep: null })).toEqual({ kind: 'report-state', generation: 4 });
    expect(idleAction({ type: 'go', generation: 4 })).toEqual({ kind: 'ignore' });
    expect(idleAction(batch(1))).toEqual({ kind: 'ignore' });
  });

  it('offers the held state\'s applied steps and run, or none', () => {
    expect(offeredState(null, 'fp')).toEqual({ appliedSteps: -1, stateFingerprint: null });
    expect(offeredState({ step: 0 }, 'fp')).toEqual({ appliedSteps: 0, stateFingerprint: 'fp' });
    expect(offeredState({ step: 42 }, 'fp')).toEqual({ appliedSteps: 42, stateFingerprint: 'fp' });
  });

  it('reconnects after a lost coordinator; unproved refusals neither extend the deadline nor end the worker before it', () => {
    let now = 1_000;
    const p = new ReconnectPolicy(() => now, 5_000, 60_000);
    const lost = new RingtrainError(ErrorCodes.COORDINATOR_LOST, 'gone');
    const squatter = new RingtrainError(ErrorCodes.AUTH_FAILED, 'could not prove the token');
    expect(p.connectBudgetMs()).toBe(5_000);
    // Something on the port that never proves the token: back off, keep the first deadline.
    expect(p.ended(lost, false, squatter)).toEqual({ kind: 'reconnect', backoffMs: Defaults.connectBackoffMaxMs / 4 });
    now = 5_999;
    expect(p.giveUp()).toBeNull();
    expect(p.connectBudgetMs()).toBe(1);
    now = 6_000;
    expect(p.giveUp()).toBe(squatter);
    // A proved coordinator lost: the deadline starts again and the old refusal is forgotten.
    expect(p.ended(lost, true, null)).toEqual({ kind: 'reconnect', backoffMs: 0 });
    expect(p.giveUp()).toBeNull();
    expect(p.connectBudgetMs()).toBe(60_000);
    now = 1e9;
    expect(p.giveUp()).toBeNull();
  });

  it('fails on any other error than a lost coordinator', () => {
    const p = new ReconnectPolicy(() => 0, 5_000, 60_000);
    const bad = new RingtrainError(ErrorCodes.MODEL_MISMATCH, 'no');
    expect(p.ended(bad, true, null)).toEqual({ kind: 'fail', error: bad });
    expect(p.ended(new RingtrainError(ErrorCodes.TIMEOUT, 'slow'), true, null)).toMatchObject({ kind: 'fail' });
  });
});
