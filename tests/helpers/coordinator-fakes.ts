/**
 * In-memory stand-ins for the coordinator's decision tests: a clock moved by hand, and the
 * messages workers send, built with honest defaults that each test overrides.
 */
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import type { HelloMsg, StepDoneMsg } from '../../src/shared/protocol/protocol.js';
import type { Action } from '../../src/coordinator/actions.js';

/** A clock that only moves when told (ms). */
export class FakeClock {
  constructor(private t = 1_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/** A worker's hello. */
export function hello(pid: number, over: Partial<HelloMsg> = {}): HelloMsg {
  return {
    type: 'hello', protocol: PROTOCOL_VERSION, ringUrl: `ws://10.0.0.${pid}:9000`, backend: 'cpu', host: `host${pid}`, pid, job: null,
    appliedSteps: -1, stateFingerprint: null, proof: null, nonce: new Uint8Array(16), ...over,
  };
}

const timings = { waitMs: 1, computeMs: 2, allreduceMs: 3, updateMs: 4, commMs: 3 };

/** A rank's report of `step` (loss and samples equal on every rank, as the all-reduce makes them). */
export function stepDone(generation: number, step: number, over: Partial<StepDoneMsg> = {}): StepDoneMsg {
  return { type: 'step-done', generation, step, loss: 0.5, samples: 64, checksum: null, timings, skipped: false, ...over };
}

/** The ids an action list terminates. */
export function terminated(actions: readonly Action[]): number[] {
  return actions.flatMap((a) => (a.do === 'terminate' ? [a.to] : []));
}

/** The [id, code] pairs an action list rejects. */
export function rejected(actions: readonly Action[]): [number, string][] {
  return actions.flatMap((a) => (a.do === 'reject' ? [[a.to, a.code] as [number, string]] : []));
}
