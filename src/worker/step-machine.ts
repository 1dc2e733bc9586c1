/**
 * The decisions of one generation's step loop, apart from their effects: what each control
 * message means, when the next step may run, when the generation pauses, how a failed all-reduce
 * ends and whether a step's reduced gradients are applied. It holds no sockets, timers or
 * engine; the step runner (step-runner.ts) performs what it decides, and tests drive it with
 * plain messages and a fake clock.
 */
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/base/errors.js';
import { skipNonFinite } from '../shared/optim/nonfinite.js';
import { assertNever, type BatchMsg, type CoordinatorToWorker, type NonFinitePolicy } from '../shared/protocol/protocol.js';

/** What the runner does next. */
export type StepAction =
  /** Send held step reports, then wait up to `timeoutMs` for the next control message. */
  | { kind: 'wait'; timeoutMs: number; what: string }
  /** Run `batch` as the next step; its wait for the batch began at `waitStart` (clock time). */
  | { kind: 'step'; batch: BatchMsg; waitStart: number }
  /** Report the replica's state: the generation is paused. */
  | { kind: 'pause' };

/** What one control message means to the running generation. */
export type MessageOutcome =
  /** The first go: load the adopted weights into the engine and start training. */
  | { kind: 'go' }
  /** Noted (a batch queued, a pause remembered); nothing to do now. */
  | { kind: 'kept' }
  /** Dropped: of another generation, already past, repeated or out of order. */
  | { kind: 'ignored'; why: 'stale-batch' | 'repeat' | 'other-generation' | 'out-of-order' }
  /** The run is over. */
  | { kind: 'finish' }
  /** The coordinator failed the run; every rank stops with its error. */
  | { kind: 'fail'; error: RingtrainError };

/** What a message seen on arrival, before it is queued, asks of a step in flight. */
export type ArrivalOutcome =
  /** A batch of this generation for a step still ahead: its rows may be read now. */
  | { kind: 'prefetch'; batch: BatchMsg }
  /** A member was lost: close the ring so a step blocked in the all-reduce ends. */
  | { kind: 'abandon' }
  | null;

/** How a step whose all-reduce failed ends. */
export type ReduceFailure =
  /** The coordinator abandoned the step: keep the last committed state and pause. */
  | 'abandoned'
  /** The ring broke by itself: report it and wait for the coordinator's decision. */
  | 'broken';

export interface StepMachineOptions {
  generation: number;
  /** Steps the adopted state has applied: the first step this generation runs. */
  step: number;
  /** How long a step waits for its batch before the coordinator counts as lost. */
  stepTimeoutMs: number;
  /** Time source for wait measurements (milliseconds, monotonic). */
  clock: () => number;
}

export class StepMachine {
  readonly generation: number;
  /** Steps applied by the replica: the next step to run. */
  private applied: number;
  /** Batches that arrived ahead of their step, by step. */
  private readonly pending = new Map<number, BatchMsg>();
  /** undefined: no pause asked; null: pause now; n: pause once step n is reached. */
  private pauseAt: number | null | undefined;
  private goSeen = false;
  /** Set when a pause without a step arrives: a failing all-reduce then means abandoned. */
  private abandonAsked = false;
  /**
   * When this step began waiting for its batch: kept across the control messages that arrive
   * meanwhile, so the wait covers the whole wait, not only the last message.
   */
  private waitStart: number | null = null;

  constructor(private readonly opts: StepMachineOptions) {
    this.generation = opts.generation;
    this.applied = opts.step;
  }

  /** The next step to run (the replica's applied steps). */
  get step(): number {
    return this.applied;
  }

  /** What to do now. A `step` action takes its batch: the runner must run it or the run ends. */
  next(): StepAction {
    if (this.goSeen && this.pauseAt !== undefined && (this.pauseAt === null || this.applied >= this.pauseAt)) return { kind: 'pause' };
    // Waiting starts once training has (the go); the time before it is the ring's and engine's start.
    if (this.goSeen && this.waitStart === null) this.waitStart = this.opts.clock();
    const batch = this.goSeen ? this.pending.get(this.applied) : undefined;
    if (!batch) {
      // The go waits for every rank's engine start as well as the ring: GPU engines can start slowly.
      return this.goSeen
        ? { kind: 'wait', timeoutMs: this.opts.stepTimeoutMs, what: `the batch for step ${this.applied}` }
        : { kind: 'wait', timeoutMs: Defaults.ringConnectTimeoutMs + Defaults.engineStartTimeoutMs, what: 'the go signal' };
    }
    this.pending.delete(this.applied);
    const waitStart = this.waitStart ?? this.opts.clock();
    this.waitStart = null;
    return { kind: 'step', batch, waitStart };
  }

  /** Folds a message taken from the inbox into the loop's state. */
  onMessage(msg: CoordinatorToWorker): MessageOutcome {
    switch (msg.type) {
      case 'go':
        if (msg.generation !== this.generation) return { kind: 'ignored', why: 'other-generation' };
        if (this.goSeen) return { kind: 'ignored', why: 'repeat' };
        this.goSeen = true;
        return { kind: 'go' };
      case 'batch':
        if (msg.generation !== this.generation || msg.step < this.applied) return { kind: 'ignored', why: 'stale-batch' };
        this.pending.set(msg.step, msg);
        return { kind: 'kept' };
      case 'pause':
        if (msg.generation !== this.generation) return { kind: 'ignored', why: 'other-generation' };
        // Paused before training began: nothing to finish, and no step may run without the go's
        // model check and weight load, so the pause is immediate whatever step it names.
        this.pauseAt = this.goSeen ? msg.atStep : null;
        this.goSeen = true;
        return { kind: 'kept' };
      case 'finish':
        return { kind: 'finish' };
      case 'error':
        return { kind: 'fail', error: new RingtrainError(msg.code, `coordinator: ${msg.message}`) };
      case 'start':
      case 'challenge':
      case 'welcome':
        return { kind: 'ignored', why: 'out-of-order' };
      default:
        return assertNever(msg);
    }
  }

  /**
   * Sees a message as it arrives, while a step may be blocked in the all-reduce: an immediate
   * pause must interrupt that step, and a batch ahead may start its reads.
   */
  onArrival(msg: CoordinatorToWorker): ArrivalOutcome {
    if (msg.type === 'batch' && msg.generation === this.generation && msg.step >= this.applied) return { kind: 'prefetch', batch: msg };
    if (msg.type === 'pause' && msg.generation === this.generation && msg.atStep === null) {
      this.abandonAsked = true;
      return { kind: 'abandon' };
    }
    return null;
  }

  /**
   * The step's all-reduce failed. After an abandon the pause is (or will be) in the inbox, and the
   * state to report is the last committed one; otherwise only the coordinator, which knows every
   * rank, can decide what the failure means.
   */
  reduceFailed(): ReduceFailure {
    if (!this.abandonAsked) return 'broken';
    this.pauseAt = null;
    return 'abandoned';
  }

  /** The runner applied (or skipped) the step's update and advanced the replica. */
  committed(): void {
    this.applied += 1;
  }
}

/** What a step's reduced fusion buffer says. */
export interface ReducedStep {
  /** Global mean loss (identical on every rank: it came through the all-reduce). */
  loss: number;
  /** Global sample count: the divisor of the summed gradient. */
  samples: number;
  /** True when the update is skipped because a reduced value is not finite. */
  skipped: boolean;
}

/**
 * Reads a reduced fusion buffer (P gradients, then the loss sum and the sample count). The skip is
 * decided on the reduced buffer, identical on every rank, so all ranks skip (or abort) alike;
 * throws RT_NON_FINITE under policy abort.
 */
export function readReduced(fusion: Float32Array, paramCount: number, policy: NonFinitePolicy, step: number): ReducedStep {
  if (fusion.length !== paramCount + 2) throw new RingtrainError(ErrorCodes.INTERNAL, `fusion buffer holds ${fusion.length} values, expected ${paramCount + 2}`);
  const samples = fusion[paramCount + 1]!;
  const loss = fusion[paramCount]! / samples;
  return { loss, samples, skipped: skipNonFinite(fusion, policy, step) };
}

/**
 * What a failed wait for the coordinator means. Only the coordinator decides that a step has
 * failed (it knows every rank); a worker whose coordinator stays quiet past the wait's timeout
 * treats it as lost and reconnects with its state, so a frozen or restarting coordinator finds
 * its workers again. Any other failure stays what it is.
 */
export function waitFailed(err: unknown): RingtrainError {
  const e = toRingtrainError(err);
  if (e.code !== ErrorCodes.TIMEOUT) return e;
  return new RingtrainError(ErrorCodes.COORDINATOR_LOST, `${e.message}; the coordinator is silent, reconnecting`);
}
