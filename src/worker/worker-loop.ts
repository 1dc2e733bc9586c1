/**
 * A worker's life across connections: connect, say hello with the state it holds, run whatever
 * generation the coordinator starts, and reconnect (keeping its state) when the coordinator is
 * lost, until the run finishes or fails. The decisions are reconnect.ts's; the connection, the
 * generation and the clock come in as ports, so tests run this loop in memory.
 */
import { Defaults } from '../shared/base/constants.js';
import { logStack, toRingtrainError, type RingtrainError } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { Replica } from '../shared/engine/replica.js';
import type { HelloMsg, StartMsg } from '../shared/protocol/protocol.js';
import { idleAction, offeredState, ReconnectPolicy } from './reconnect.js';
import { reportState, type GenerationEnd, type StepControl } from './step-runner.js';

/** What the worker loop uses of a control connection (ControlClient, or an in-memory one in tests). */
export interface WorkerLink extends StepControl {
  /** True once the coordinator has proved the token (or this worker has none to check). */
  readonly trusted: boolean;
  /** Why the connection ended without the coordinator proving the token, if it did. */
  readonly refusal: RingtrainError | null;
  close(): void;
}

/** The hello's fields other than the offered state (address, identity, auth proof). */
export type HelloIdentity = Omit<HelloMsg, 'appliedSteps' | 'stateFingerprint'>;

export interface WorkerLoopPorts<L extends WorkerLink> {
  /** Connects within `timeoutMs`; `refusal` is the last unproved refusal, reported if it fails. */
  connect(timeoutMs: number, refusal: RingtrainError | null): Promise<L>;
  hello(link: L): HelloIdentity;
  /** Runs one generation on `link`; `hold` receives the state it adopts. */
  runGeneration(link: L, start: StartMsg, log: Logger, hold: (r: Replica) => void): Promise<GenerationEnd>;
  connectTimeoutMs: number;
  reconnectTimeoutMs: number;
  log: Logger;
  /** Wall-clock milliseconds: reconnect deadlines. */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs until the coordinator finishes the run; returns the state held then (null: none adopted). */
export async function workerLoop<L extends WorkerLink>(ports: WorkerLoopPorts<L>): Promise<Replica | null> {
  const { log } = ports;
  const sleep = ports.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const policy = new ReconnectPolicy(ports.clock ?? Date.now, ports.connectTimeoutMs, ports.reconnectTimeoutMs);
  // Survive reconnections: the state and the run it belongs to are what the hello offers.
  const held: { replica: Replica | null; fingerprint: string | null } = { replica: null, fingerprint: null };
  for (;;) {
    const refused = policy.giveUp();
    if (refused) throw refused;
    const control = await ports.connect(policy.connectBudgetMs(), policy.refusal);
    void control.send({ ...ports.hello(control), ...offeredState(held.replica, held.fingerprint) });
    try {
      for (;;) {
        const msg = await control.inbox.take(Defaults.idleTimeoutMs, 'instructions from the coordinator');
        const action = idleAction(msg);
        if (action.kind === 'finish') return held.replica;
        if (action.kind === 'fail') throw action.error;
        if (action.kind === 'report-state') await reportState(control, action.generation, held.replica);
        if (action.kind !== 'start') continue;
        const start = action.start;
        held.fingerprint = start.fingerprint;
        const glog = log.child({ rank: start.rank, generation: start.generation });
        glog.info({ worldSize: start.worldSize, step: start.state.step }, 'generation started');
        const end = await ports.runGeneration(control, start, glog, (r) => (held.replica = r));
        if (end.kind === 'finish') return held.replica;
      }
    } catch (err) {
      const e = toRingtrainError(err);
      const next = policy.ended(e, control.trusted, control.refusal);
      if (next.kind === 'reconnect') {
        if (next.backoffMs > 0) await sleep(next.backoffMs);
        log.warn({ err: e.message, steps: held.replica?.step ?? 0 }, 'coordinator lost; keeping state and reconnecting');
        continue;
      }
      // A refusal nobody proved (an error before the welcome) never reaches here: see control-client.ts.
      logStack(log, e);
      // Tell the coordinator, so every rank fails together instead of waiting for a timeout.
      await control.send({ type: 'error', code: e.code, message: e.message });
      throw e;
    } finally {
      control.close();
    }
  }
}
