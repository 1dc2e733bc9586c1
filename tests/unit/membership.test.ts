/**
 * Membership decisions in memory (coordinator/membership.ts): admission, losses, when a generation
 * forms, and when a running one pauses for a newcomer; a fake clock, no sockets.
 */
import { describe, expect, it } from 'vitest';
import { Gathering, JoinPolicy, Membership } from '../../src/coordinator/membership.js';
import { ErrorCodes, RingtrainError } from '../../src/shared/base/errors.js';
import { FakeClock, hello, rejected, terminated } from '../helpers/coordinator-fakes.js';

/** A membership whose open sockets are the ids in `open`. */
function membership(maxWorkers = 4, job = 'mnist-mlp', jobIsModule = false): { m: Membership; open: Set<number> } {
  const open = new Set<number>();
  return { m: new Membership({ maxWorkers, job, jobIsModule }, (id) => open.has(id)), open };
}

/** Admits a worker on connection `id` (its socket open). */
function join(x: { m: Membership; open: Set<number> }, id: number): void {
  x.open.add(id);
  expect(x.m.classify({ kind: 'message', id, msg: hello(id) }).event.kind).toBe('joined');
}

describe('gathering a generation', () => {
  const rules = { minWorkers: 2, maxWorkers: 4, rendezvousTimeoutMs: 60_000, graceMs: 500 };

  it('joins before training: waits below --min-workers, then forms once the grace for more has passed', () => {
    const clock = new FakeClock();
    const g = new Gathering(rules, clock.now());
    expect(g.next(1, clock.now())).toEqual({ kind: 'wait', ms: 60_000 });
    clock.advance(1000);
    expect(g.next(2, clock.now())).toEqual({ kind: 'wait', ms: 500 });
    clock.advance(499);
    expect(g.next(2, clock.now())).toEqual({ kind: 'wait', ms: 1 });
    clock.advance(1);
    expect(g.next(2, clock.now()).kind).toBe('form');
  });

  it('a worker lost during the grace puts the count below --min-workers: the grace starts again when it is back up', () => {
    const clock = new FakeClock();
    const g = new Gathering(rules, clock.now());
    expect(g.next(2, clock.now()).kind).toBe('wait');
    clock.advance(400);
    expect(g.next(1, clock.now()).kind).toBe('wait');
    clock.advance(200);
    expect(g.next(2, clock.now())).toEqual({ kind: 'wait', ms: 500 });
  });

  it('--max-workers in forms at once, without the grace', () => {
    const clock = new FakeClock();
    expect(new Gathering(rules, clock.now()).next(4, clock.now()).kind).toBe('form');
  });

  it('below --min-workers the rendezvous fails with RT_TOO_FEW_WORKERS at its timeout, and not before', () => {
    const clock = new FakeClock();
    const g = new Gathering(rules, clock.now());
    clock.advance(59_999);
    expect(g.next(1, clock.now())).toEqual({ kind: 'wait', ms: 1 });
    clock.advance(1);
    const step = g.next(1, clock.now());
    expect(step.kind).toBe('fail');
    if (step.kind === 'fail') {
      expect(step.error).toBeInstanceOf(RingtrainError);
      expect(step.error.code).toBe(ErrorCodes.TOO_FEW_WORKERS);
      expect(step.error.message).toContain('only 1 of --min-workers 2');
    }
  });
});

describe('admission', () => {
  it('refuses a hello of another protocol version, and one without --job when the job is a module', () => {
    const x = membership(4, './my-job.js', true);
    x.open.add(1);
    const wrong = x.m.classify({ kind: 'message', id: 1, msg: hello(1, { protocol: 1 }) });
    expect(rejected(wrong.actions)).toEqual([[1, ErrorCodes.VERSION_MISMATCH]]);
    const noJob = x.m.classify({ kind: 'message', id: 2, msg: hello(2, { job: null }) });
    expect(rejected(noJob.actions)).toEqual([[2, ErrorCodes.JOB_REQUIRED]]);
    const withJob = x.m.classify({ kind: 'message', id: 3, msg: hello(3, { job: './my-job.js' }) });
    expect(withJob.event.kind).toBe('joined');
    expect(x.m.waiting.size).toBe(1);
  });

  it('refuses RT_RUN_FULL at --max-workers, but a member whose socket closed (its loss still queued) does not count', () => {
    const x = membership(2);
    join(x, 1);
    join(x, 2);
    x.m.promote();
    expect(rejected(x.m.classify({ kind: 'message', id: 3, msg: hello(3) }).actions)).toEqual([[3, ErrorCodes.RUN_FULL]]);
    x.open.delete(2); // killed; its close event not processed yet
    expect(x.m.classify({ kind: 'message', id: 4, msg: hello(4) }).event.kind).toBe('joined');
  });

  it('promotes waiting workers in arrival order; past --max-workers (a replacement admitted while a loss was queued) the rest are refused', () => {
    const x = membership(3);
    for (const id of [5, 3]) join(x, id);
    x.m.promote();
    x.open.delete(3); // killed; its loss not processed yet, so its replacement is admitted
    join(x, 9);
    join(x, 8);
    const actions = x.m.promote();
    expect(x.m.members.map((p) => p.id)).toEqual([5, 3, 9]);
    expect(rejected(actions)).toEqual([[8, ErrorCodes.RUN_FULL]]);
    expect(x.m.waiting.size).toBe(0);
  });
});

describe('losses', () => {
  it('a member\'s closed socket is the loss of its rank; a waiting worker\'s only removes it', () => {
    const x = membership();
    join(x, 1);
    join(x, 2);
    x.m.promote();
    join(x, 3);
    expect(x.m.classify({ kind: 'closed', id: 2, reason: 'socket closed' }).event).toEqual({ kind: 'lost', rank: 1, reason: 'socket closed' });
    expect(x.m.classify({ kind: 'closed', id: 3, reason: 'socket closed' }).event.kind).toBe('other');
    expect(x.m.waiting.size).toBe(0);
  });

  it('a member\'s error is a loss that terminates it, unless no membership could fix it: then the run fails', () => {
    const x = membership();
    join(x, 1);
    join(x, 2);
    x.m.promote();
    const ring = x.m.classify({ kind: 'message', id: 2, msg: { type: 'error', code: ErrorCodes.RING_FAILED, message: 'peer gone' } });
    expect(ring.event.kind).toBe('lost');
    expect(terminated(ring.actions)).toEqual([2]);
    expect(() => x.m.classify({ kind: 'message', id: 1, msg: { type: 'error', code: ErrorCodes.MODEL_MISMATCH, message: 'other model' } })).toThrow(/rank 0 failed: other model/);
  });

  it('dropping ranks keeps the survivors in order (their new ranks)', () => {
    const x = membership();
    for (const id of [1, 2, 3]) join(x, id);
    x.m.promote();
    x.m.drop(new Set([1]));
    expect(x.m.members.map((p) => p.id)).toEqual([1, 3]);
    expect(x.m.rankOf(3)).toBe(1);
  });
});

describe('joins during training', () => {
  it('a worker joining mid-run pauses the generation at a step boundary only after it committed a step of its own', () => {
    const join = new JoinPolicy(0, 2, 4, 10);
    expect(join.check(10)).toBe(false);
    join.onJoined();
    expect(join.check(10)).toBe(false);
    expect(join.pending).toBe(false);
    expect(join.check(11)).toBe(true);
    expect(join.pending).toBe(true);
    expect(join.check(12)).toBe(false); // announced once
  });

  it('no pause for a newcomer when the ring is already at --max-workers', () => {
    const join = new JoinPolicy(1, 4, 4, 0);
    join.onJoined();
    expect(join.check(5)).toBe(false);
    expect(join.pending).toBe(false);
  });

  it('race: a join arriving while a generation is forming waits, and that generation pauses for it after its first commit', () => {
    const x = membership(4);
    join(x, 1);
    join(x, 2);
    x.m.promote(); // generation forming with ranks 0, 1
    // The hello lands before every rank is ready: it must wait, not take a rank in this generation.
    expect(x.m.classify({ kind: 'message', id: 7, msg: hello(7) }).event.kind).toBe('joined');
    expect(x.m.members.map((p) => p.id)).toEqual([1, 2]);
    expect([...x.m.waiting.keys()]).toEqual([7]);
    // Training starts with it waiting: the pause is wanted without another join event.
    const policy = new JoinPolicy(x.m.waiting.size, x.m.members.length, 4, 0);
    expect(policy.check(0)).toBe(false);
    expect(policy.check(1)).toBe(true);
    // At the pause it becomes rank 2 of the next generation.
    x.m.promote();
    expect(x.m.members.map((p) => p.id)).toEqual([1, 2, 7]);
  });
});
