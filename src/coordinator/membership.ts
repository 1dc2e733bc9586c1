/**
 * Membership decisions: which connection is which rank, who is admitted, when a generation forms,
 * and when a running generation pauses for a newcomer. Workers are named by connection id; the
 * executor (run.ts) performs the returned actions and feeds back every event with the time.
 *
 *   admission   a hello is refused for a protocol mismatch, a full run, or a missing job module;
 *               otherwise the worker waits for the next generation
 *   gathering   members plus waiting workers until --min-workers, then a grace for more (first
 *               generation only), failing with RT_TOO_FEW_WORKERS after --rendezvous-timeout
 *   join        a running generation pauses for a waiting worker at a step boundary, but only
 *               after committing a step of its own
 */
import { PROTOCOL_VERSION } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError, type ErrorCode } from '../shared/base/errors.js';
import type { HelloMsg, WorkerToCoordinator } from '../shared/protocol/protocol.js';
import { note, type Action } from './actions.js';

/** A worker that said hello: its connection id and what it said. */
export interface Peer {
  id: number;
  hello: HelloMsg;
}

/** What arrives from the control server, by connection id. */
export type Inbound = { kind: 'message'; id: number; msg: WorkerToCoordinator } | { kind: 'closed'; id: number; reason: string };

/** An inbound event as the run's phases see it. */
export type MemberEvent =
  | { kind: 'member'; rank: number; msg: WorkerToCoordinator }
  | { kind: 'lost'; rank: number; reason: string }
  | { kind: 'joined' }
  | { kind: 'other' };

/** Errors a worker reports that no other membership would fix: the whole run fails. */
export const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.MODEL_MISMATCH, ErrorCodes.JOB_REQUIRED, ErrorCodes.JOB_LOAD, ErrorCodes.UNKNOWN_JOB,
  ErrorCodes.BACKEND_UNAVAILABLE, ErrorCodes.REPLICA_DIVERGED, ErrorCodes.BAD_CONFIG, ErrorCodes.NON_FINITE,
  ErrorCodes.AUTH_FAILED, ErrorCodes.TLS, ErrorCodes.VERSION_MISMATCH, ErrorCodes.DATA_MISMATCH, ErrorCodes.BAD_DATA,
]);

export interface AdmissionRules {
  maxWorkers: number;
  /** The run's job spec; `jobIsModule`: it is a module path every worker must be given too. */
  job: string;
  jobIsModule: boolean;
}

/** The members of the current generation (index = rank) and the workers waiting for the next. */
export class Membership {
  members: Peer[] = [];
  readonly waiting = new Map<number, Peer>();

  /** `isOpen(id)`: whether that connection's socket is still open (the executor knows). */
  constructor(private readonly rules: AdmissionRules, private readonly isOpen: (id: number) => boolean) {}

  /** Members plus waiting workers. */
  get count(): number {
    return this.members.length + this.waiting.size;
  }

  rankOf(id: number): number {
    return this.members.findIndex((m) => m.id === id);
  }

  /** A rank's host and pid, for messages. */
  describe(rank: number): string {
    const h = this.members[rank]?.hello;
    return h ? `${h.host} pid ${h.pid}` : '?';
  }

  /**
   * Classifies one inbound event and admits or refuses a hello. Throws (RingtrainError) when a
   * member reports an error no other membership would fix.
   */
  classify(ev: Inbound): { event: MemberEvent; actions: Action[] } {
    const rank = this.rankOf(ev.id);
    if (rank >= 0) {
      if (ev.kind === 'closed') return { event: { kind: 'lost', rank, reason: ev.reason }, actions: [] };
      const msg = ev.msg;
      if (msg.type === 'error') {
        const why = `rank ${rank} failed: ${msg.message} (${this.describe(rank)})`;
        if (FATAL.has(msg.code)) throw new RingtrainError(msg.code, why);
        return {
          event: { kind: 'lost', rank, reason: why },
          actions: [note('warn', { rank, code: msg.code, err: msg.message }, 'worker failed; treating it as lost'), { do: 'terminate', to: ev.id }],
        };
      }
      return { event: { kind: 'member', rank, msg }, actions: [] };
    }
    if (ev.kind === 'closed') {
      const left = this.waiting.delete(ev.id);
      return { event: { kind: 'other' }, actions: left ? [note('info', { conn: ev.id }, 'waiting worker left')] : [] };
    }
    const msg = ev.msg;
    if (msg.type === 'hello') return this.admit(ev.id, msg);
    return { event: { kind: 'other' }, actions: msg.type === 'error' ? [note('warn', { conn: ev.id, code: msg.code, err: msg.message }, 'waiting worker failed')] : [] };
  }

  private admit(id: number, msg: HelloMsg): { event: MemberEvent; actions: Action[] } {
    const refuse = (code: ErrorCode, fields: Record<string, unknown>, why: string, message: string): { event: MemberEvent; actions: Action[] } => ({
      event: { kind: 'other' },
      actions: [note('warn', fields, why), { do: 'reject', to: id, code, message }],
    });
    if (msg.protocol !== PROTOCOL_VERSION) {
      return refuse(ErrorCodes.VERSION_MISMATCH, { conn: id, theirs: msg.protocol, ours: PROTOCOL_VERSION }, 'protocol version mismatch',
        `worker speaks protocol ${msg.protocol}, coordinator speaks ${PROTOCOL_VERSION}; run the same ringtrain version everywhere`);
    }
    // Members whose socket already closed (a killed worker whose loss is still queued) do not
    // count: their replacement may say hello before the loss is processed.
    if (this.members.filter((m) => this.isOpen(m.id)).length + this.waiting.size >= this.rules.maxWorkers) {
      return refuse(ErrorCodes.RUN_FULL, { code: ErrorCodes.RUN_FULL, conn: id, host: msg.host }, 'worker refused: the run is full',
        `this run already has --max-workers ${this.rules.maxWorkers} workers`);
    }
    // A worker without the job module could never build the model: refuse it alone, at once.
    if (msg.job === null && this.rules.jobIsModule) {
      return refuse(ErrorCodes.JOB_REQUIRED, { code: ErrorCodes.JOB_REQUIRED, conn: id, host: msg.host }, 'worker refused: started without --job for a job module',
        `this run's job is the module ${this.rules.job}; start this worker with --job <path to the same module>`);
    }
    this.waiting.set(id, { id, hello: msg });
    return {
      event: { kind: 'joined' },
      actions: [note('info', { conn: id, host: msg.host, workerPid: msg.pid, ring: msg.ringUrl, appliedSteps: msg.appliedSteps, waiting: this.waiting.size }, 'worker joined')],
    };
  }

  /** Waiting workers become members up to --max-workers; the rest are refused. */
  promote(): Action[] {
    const actions: Action[] = [];
    for (const p of this.waiting.values()) {
      if (this.members.length >= this.rules.maxWorkers) break;
      this.members.push(p);
      this.waiting.delete(p.id);
    }
    for (const p of this.waiting.values()) actions.push({ do: 'reject', to: p.id, code: ErrorCodes.RUN_FULL, message: `this run already has --max-workers ${this.rules.maxWorkers} workers` });
    this.waiting.clear();
    return actions;
  }

  /** Members whose sockets are open (they can still answer), by rank. */
  openRanks(): number[] {
    return this.members.flatMap((m, r) => (this.isOpen(m.id) ? [r] : []));
  }

  /** Removes the given ranks; the others keep their order (and so their relative ranks). */
  drop(ranks: ReadonlySet<number>): void {
    this.members = this.members.filter((_, r) => !ranks.has(r));
  }
}

/** When to form a generation from the workers at hand, or to give up. */
export type GatherStep = { kind: 'form' } | { kind: 'wait'; ms: number } | { kind: 'fail'; error: RingtrainError };

export interface GatherRules {
  minWorkers: number;
  maxWorkers: number;
  rendezvousTimeoutMs: number;
  /** Extra wait for more workers once --min-workers are in (0 after the first generation). */
  graceMs: number;
}

/** The rendezvous wait before one generation: call next() with the worker count after every event. */
export class Gathering {
  private graceEnd: number | null = null;
  private readonly deadline: number;

  constructor(private readonly rules: GatherRules, now: number) {
    this.deadline = now + rules.rendezvousTimeoutMs;
  }

  next(have: number, now: number): GatherStep {
    const { minWorkers, maxWorkers, rendezvousTimeoutMs } = this.rules;
    if (have >= maxWorkers) return { kind: 'form' };
    if (have >= minWorkers) {
      this.graceEnd ??= now + this.rules.graceMs;
      if (now >= this.graceEnd) return { kind: 'form' };
    } else {
      this.graceEnd = null;
    }
    const wait = Math.min(this.graceEnd ?? Infinity, this.deadline) - now;
    if (wait <= 0 && have < minWorkers) {
      return { kind: 'fail', error: new RingtrainError(ErrorCodes.TOO_FEW_WORKERS, `only ${have} of --min-workers ${minWorkers} workers after waiting ${rendezvousTimeoutMs} ms; start more workers or lower --min-workers`) };
    }
    return { kind: 'wait', ms: Math.max(1, wait) };
  }
}

/**
 * Whether a running generation pauses for a waiting worker. It pauses at a step boundary, but only
 * after committing a step of its own: a worker dropped for a cut path rejoins at once, and while
 * the cut lasts every generation it joins fails to form, so without this the run would cycle
 * without ever training.
 */
export class JoinPolicy {
  private wanted: boolean;
  private pendingFlag = false;

  constructor(waiting: number, private readonly worldSize: number, private readonly maxWorkers: number, private readonly firstStep: number) {
    this.wanted = waiting > 0 && worldSize < maxWorkers;
  }

  /** A worker was admitted to wait: it is wanted when the ring has room for it. */
  onJoined(): void {
    if (this.worldSize < this.maxWorkers) this.wanted = true;
  }

  /** Called before every wait with the steps committed; true the moment a pause becomes pending. */
  check(committed: number): boolean {
    if (!this.wanted || this.pendingFlag || committed <= this.firstStep) return false;
    this.pendingFlag = true;
    return true;
  }

  /** No more steps are sent; the generation ends at the boundary everyone reaches. */
  get pending(): boolean {
    return this.pendingFlag;
  }
}
