/**
 * The decisions of a worker between generations, apart from their effects: what an idle control
 * message asks, which state a (re)connecting worker offers, and how long it keeps reconnecting.
 * The worker loop (worker-loop.ts) performs them; tests drive them with a fake clock.
 */
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { CoordinatorToWorker, StartMsg } from '../shared/protocol/protocol.js';

/** What a message means to a worker that runs no generation. */
export type IdleAction =
  | { kind: 'finish' }
  | { kind: 'fail'; error: RingtrainError }
  /** Between generations, or just reconnected: report the state held. */
  | { kind: 'report-state'; generation: number }
  | { kind: 'start'; start: StartMsg }
  /** A go or batch of an ended generation, or a handshake message out of place. */
  | { kind: 'ignore' };

export function idleAction(msg: CoordinatorToWorker): IdleAction {
  switch (msg.type) {
    case 'finish':
      return { kind: 'finish' };
    case 'error':
      return { kind: 'fail', error: new RingtrainError(msg.code, `coordinator: ${msg.message}`) };
    case 'pause':
      return { kind: 'report-state', generation: msg.generation };
    case 'start':
      return { kind: 'start', start: msg };
    default:
      return { kind: 'ignore' };
  }
}

/** The hello's state fields: the steps the held state has applied, and the run it belongs to. */
export function offeredState(held: { step: number } | null, fingerprint: string | null): { appliedSteps: number; stateFingerprint: string | null } {
  return held ? { appliedSteps: held.step, stateFingerprint: fingerprint } : { appliedSteps: -1, stateFingerprint: null };
}

/** What to do after a connection ended with an error. */
export type ConnectionEnd =
  /** The coordinator is gone (or was never proved): connect again, after `backoffMs`. */
  | { kind: 'reconnect'; backoffMs: number }
  /** Anything else ends the worker: tell the coordinator, then fail with `error`. */
  | { kind: 'fail'; error: RingtrainError };

/**
 * How long a worker keeps reconnecting. The deadline is set at the first connect and again
 * whenever a coordinator that proved the token is lost: connections to something that never
 * proves it (a squatter on the port while the coordinator restarts) do not extend it, and the
 * last refusal heard there is what the worker fails with once the deadline passes.
 */
export class ReconnectPolicy {
  private deadline: number;
  private lastRefusal: RingtrainError | null = null;

  constructor(private readonly clock: () => number, connectTimeoutMs: number, private readonly reconnectTimeoutMs: number) {
    this.deadline = clock() + connectTimeoutMs;
  }

  /** The refusal to fail with now that the deadline has passed, else null (connect again). */
  giveUp(): RingtrainError | null {
    return this.lastRefusal && this.clock() >= this.deadline ? this.lastRefusal : null;
  }

  /** The time left for the next connect (at least 1 ms, so one attempt is always made). */
  connectBudgetMs(): number {
    return Math.max(1, this.deadline - this.clock());
  }

  /** The last refusal of an unproved coordinator, reported if connecting fails for good. */
  get refusal(): RingtrainError | null {
    return this.lastRefusal;
  }

  /**
   * A connection ended with `err`. `trusted`: the coordinator there had proved the token;
   * `refusal`: why the connection was dropped unproved, if it was.
   */
  ended(err: RingtrainError, trusted: boolean, refusal: RingtrainError | null): ConnectionEnd {
    if (err.code !== ErrorCodes.COORDINATOR_LOST) return { kind: 'fail', error: err };
    if (trusted) {
      this.deadline = this.clock() + this.reconnectTimeoutMs;
      this.lastRefusal = null;
      return { kind: 'reconnect', backoffMs: 0 };
    }
    this.lastRefusal = refusal ?? this.lastRefusal;
    // Whatever answered did not prove the token: back off before asking it again.
    return { kind: 'reconnect', backoffMs: Defaults.connectBackoffMaxMs / 4 };
  }
}
