/**
 * State adoption, as decisions: which state every rank continues from when a generation ends
 * (the most advanced valid survivor's), which reconnecting worker to ask for a newer state after
 * a coordinator restart, and how far ahead such a state may honestly be. state-check.ts says
 * whether one state is valid; this module applies it to survivors and picks among them.
 */
import { ErrorCodes } from '../shared/base/errors.js';
import type { StateMsg, TrainState } from '../shared/protocol/protocol.js';
import { checkState, type ChecksumLog, type StateBounds } from './state-check.js';
import { note, type Action } from './actions.js';
import type { Peer } from './membership.js';

/** Judges states against the run's bounds and the checksums every rank agreed on. */
export class StateJudge {
  constructor(private readonly fixed: Omit<StateBounds, 'maxStep'>, readonly checksums: ChecksumLog) {}

  /** Why `st` cannot be adopted when at most `maxStep` steps can have been applied, or null. */
  refuse(st: TrainState, maxStep: number): string | null {
    return checkState(st, { ...this.fixed, maxStep }) ?? (this.checksums.verdict(st) === 'differs' ? `its weights differ from the checksum every rank agreed on at step ${st.step}` : null);
  }
}

/** The most advanced of `collected`, or `current` when none is strictly ahead of it. */
export function newestState(collected: readonly TrainState[], current: TrainState): TrainState {
  return collected.reduce((a, st) => (st.step > a.step ? st : a), current);
}

/**
 * Among waiting workers, the one holding the newest state of this run (same fingerprint), when it
 * is ahead of ours (`ourStep`): after a coordinator restart, workers may hold steps committed
 * after the checkpoint.
 */
export function pickReconnected(waiting: Iterable<Peer>, fingerprint: string, ourStep: number): Peer | null {
  let chosen: Peer | null = null;
  for (const p of waiting) {
    if (p.hello.stateFingerprint === fingerprint && p.hello.appliedSteps > (chosen?.hello.appliedSteps ?? ourStep)) chosen = p;
  }
  return chosen;
}

/**
 * The furthest step a reconnected worker's state may have applied. Right after a restart nothing
 * is planned yet: a worker may be ahead of the checkpoint by what was committed since it (at most
 * --checkpoint-every steps) plus the batches in flight; later, what this coordinator planned.
 */
export function reconnectMaxStep(o: { fresh: boolean; ourStep: number; checksumFrontier: number; checkpointEvery: number; prefetchSteps: number; plannedUpTo: number }): number {
  return o.fresh ? Math.max(o.ourStep, o.checksumFrontier) + o.checkpointEvery + o.prefetchSteps + 1 : o.plannedUpTo;
}

/**
 * The end of a generation: every member is asked to pause (now, or at a step boundary) and send
 * its state; members that close, time out or offer a state this run cannot have trained are
 * dropped; the most advanced valid state wins.
 */
export class PauseRound {
  private readonly pending: Set<number>;
  readonly lost: Set<number>;
  private readonly collected: TrainState[] = [];
  readonly deadline: number;

  /** `ids[r]`: rank r's connection id; `openRanks`: the members whose sockets are still open. */
  constructor(private readonly ids: readonly number[], openRanks: readonly number[], private readonly generation: number, now: number, timeoutMs: number) {
    const open = new Set(openRanks);
    // Members whose socket is already gone (their close event was consumed) cannot answer.
    this.pending = new Set(ids.flatMap((_, r) => (open.has(r) ? [r] : [])));
    this.lost = new Set(ids.flatMap((_, r) => (open.has(r) ? [] : [r])));
    this.deadline = now + timeoutMs;
  }

  /** The pause message to every member. */
  start(atStep: number | null): Action[] {
    return this.ids.map((to) => ({ do: 'send', to, msg: { type: 'pause', generation: this.generation, atStep } }));
  }

  /** Some member has still to answer. */
  get waiting(): boolean {
    return this.pending.size > 0;
  }

  onLost(rank: number): void {
    this.pending.delete(rank);
    this.lost.add(rank);
  }

  /** A member's state (null: it holds none); `refuse` judges it. */
  onState(rank: number, msg: StateMsg, refuse: (st: TrainState) => string | null): Action[] {
    if (msg.generation !== this.generation) return [];
    this.pending.delete(rank);
    const why = msg.state ? refuse(msg.state) : null;
    if (why !== null) {
      // A survivor that offers a state this run cannot have trained is not one to keep.
      this.lost.add(rank);
      return [note('warn', { code: ErrorCodes.BAD_MESSAGE, rank, why }, 'survivor\'s state refused; evicting it'), { do: 'terminate', to: this.ids[rank]! }];
    }
    if (msg.state) this.collected.push(msg.state);
    return [];
  }

  /** The deadline passed: whoever has not answered is dropped. */
  onTimeout(): Action[] {
    const actions: Action[] = [];
    for (const r of this.pending) {
      actions.push(note('warn', { rank: r }, 'no state from this survivor in time; dropping it'), { do: 'terminate', to: this.ids[r]! });
      this.lost.add(r);
    }
    this.pending.clear();
    return actions;
  }

  /** The state everyone continues from: the most advanced collected one, else `current`. */
  newest(current: TrainState): TrainState {
    return newestState(this.collected, current);
  }
}
