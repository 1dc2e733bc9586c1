/**
 * The stall inspector (as Horovod's stall_inspector): it watches a generation's progress and, when
 * no step has been committed for --step-timeout, says who is to blame (blame.ts: the ranks missing
 * from the stalled step, else the one whose last sign of life is clearly oldest, else nobody).
 * Before that it warns every --stall-warn interval which ranks everyone is waiting for. Decisions
 * only, on times the executor passes in: the executor evicts, logs and ends the generation.
 */
import { blameStall, type Blame } from './blame.js';

export interface StallRules {
  /** No committed step for this long ends the generation. */
  stepTimeoutMs: number;
  /** No committed step for this long is warned about (and again every as long). */
  warnMs: number;
  /** Differences in last sign of life below this are noise (one heartbeat interval). */
  slackMs: number;
}

/** What to do now: end the generation blaming some ranks, or wait (warning first, perhaps). */
export type StallCheck =
  | { kind: 'timeout'; blame: Blame; waitedMs: number }
  | { kind: 'wait'; ms: number; warn: { waitingForRanks: number[]; waitedMs: number } | null };

export class StallInspector {
  /** When each rank last sent anything (its pongs come apart, as lastSeen). */
  private readonly heard: number[];
  private lastProgress: number;
  private lastWarn: number;

  constructor(worldSize: number, now: number, private readonly rules: StallRules) {
    this.heard = new Array<number>(worldSize).fill(now);
    this.lastProgress = now;
    this.lastWarn = now;
  }

  /** Rank `rank` sent a message. */
  heardFrom(rank: number, now: number): void {
    if (rank >= 0 && rank < this.heard.length) this.heard[rank] = now;
  }

  /** A step was committed. */
  progressed(now: number): void {
    this.lastProgress = now;
  }

  /**
   * Whether `check` at `now` times out or warns, the only cases in which it reads `missing` and
   * `lastSeen`: the run loop asks on every report and builds them only then.
   */
  due(now: number): boolean {
    const since = now - this.lastProgress;
    return since >= this.rules.stepTimeoutMs || (since >= this.rules.warnMs && now - this.lastWarn >= this.rules.warnMs);
  }

  /**
   * `missing`: ranks that have not reported the step in flight when some have (else null);
   * `lastSeen[r]`: rank r's last pong to the heartbeat.
   */
  check(now: number, missing: readonly number[] | null, lastSeen: readonly number[]): StallCheck {
    const { stepTimeoutMs, warnMs, slackMs } = this.rules;
    const since = now - this.lastProgress;
    if (since >= stepTimeoutMs) {
      const lastSign = this.heard.map((t, r) => Math.max(t, lastSeen[r] ?? -Infinity));
      return { kind: 'timeout', blame: blameStall(missing, lastSign, slackMs), waitedMs: since };
    }
    let warn: { waitingForRanks: number[]; waitedMs: number } | null = null;
    if (since >= warnMs && now - this.lastWarn >= warnMs) {
      this.lastWarn = now;
      warn = { waitingForRanks: missing ? [...missing] : this.heard.map((_, r) => r), waitedMs: since };
    }
    return { kind: 'wait', ms: Math.min(warnMs, stepTimeoutMs - since), warn };
  }
}
