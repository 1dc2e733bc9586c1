/**
 * What the coordinator's decision modules (membership, step pipeline, adoption, stall inspector)
 * ask the run's executor to do. Decisions name workers by connection id and never touch a socket,
 * a timer or a file, so they are tested in memory with a fake clock; the executor (run.ts) owns
 * the connections and performs each action in order.
 */
import type { ErrorCode } from '../shared/base/errors.js';
import type { CoordinatorToWorker } from '../shared/protocol/protocol.js';

/** One effect a decision asks for. `to` is a worker connection id. */
export type Action =
  | { do: 'send'; to: number; msg: CoordinatorToWorker }
  | { do: 'reject'; to: number; code: ErrorCode; message: string }
  | { do: 'terminate'; to: number }
  | { do: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string };

/** The time source every decision reads (ms, as Date.now): injected so tests can move it by hand. */
export type Clock = () => number;

/** A log action (the executor writes it to the run's logger). */
export function note(level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): Action {
  return { do: 'log', level, fields, msg };
}
