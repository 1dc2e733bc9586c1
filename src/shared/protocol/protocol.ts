/**
 * The one protocol file: every control message between coordinator and workers, as a
 * discriminated union on `type`, with one `parseMessage` at the edge. Each message is declared
 * once, as a schema, in the file of its family (handshake, membership, step, state); its type is
 * inferred from the schema, so the checks and the types cannot drift apart. Nothing acts on
 * network data before it has passed these checks.
 */
import { ErrorCodes, RingtrainError, isErrorCode } from '../base/errors.js';
import { ChallengeSchema, ErrorSchema, HelloSchema, WelcomeSchema, type ChallengeMsg, type ErrorMsg, type HelloMsg, type WelcomeMsg } from './handshake.js';
import {
  FinishSchema, PauseSchema, RingFailedSchema, RingReadySchema, StartSchema,
  type FinishMsg, type PauseMsg, type RingFailedMsg, type RingReadyMsg, type StartMsg,
} from './membership.js';
import { parser } from './schema.js';
import { GoSchema, ReportsSchema, parseBatch, type BatchMsg, type GoMsg, type ReportsMsg, type StepDoneMsg } from './step.js';
import { StateSchema, type StateMsg } from './state.js';

export * from './handshake.js';
export * from './membership.js';
export * from './step.js';
export * from './state.js';

/**
 * A message from a worker as the coordinator's run loop handles it. Step reports travel in
 * `reports` messages (WorkerWire) and reach the run loop one by one.
 */
export type WorkerToCoordinator = HelloMsg | RingReadyMsg | StepDoneMsg | StateMsg | RingFailedMsg | ErrorMsg;
/** A message a worker puts on the wire. */
export type WorkerWire = Exclude<WorkerToCoordinator, StepDoneMsg> | ReportsMsg;
export type CoordinatorToWorker = ChallengeMsg | WelcomeMsg | StartMsg | GoMsg | BatchMsg | PauseMsg | FinishMsg | ErrorMsg;
/** Every message that travels on a control connection. */
export type Message = WorkerWire | CoordinatorToWorker;

/** Message types a worker sends, and those a coordinator sends (`error` goes both ways). */
export const WORKER_TYPES: ReadonlySet<string> = new Set<WorkerWire['type']>(['hello', 'ring-ready', 'reports', 'state', 'ring-failed', 'error']);
export const COORDINATOR_TYPES: ReadonlySet<string> = new Set<CoordinatorToWorker['type']>(['challenge', 'welcome', 'start', 'go', 'batch', 'pause', 'finish', 'error']);

/** One parser per message type; the `satisfies` clause makes a type without a parser a compile error. */
const parsers = {
  hello: parser(HelloSchema),
  'ring-ready': parser(RingReadySchema),
  reports: parser(ReportsSchema),
  state: parser(StateSchema),
  'ring-failed': parser(RingFailedSchema),
  error: parser(ErrorSchema),
  challenge: parser(ChallengeSchema),
  welcome: parser(WelcomeSchema),
  start: parser(StartSchema),
  go: parser(GoSchema),
  batch: parseBatch,
  pause: parser(PauseSchema),
  finish: parser(FinishSchema),
} satisfies { [T in Message['type']]: (raw: unknown) => Extract<Message, { type: T }> };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a decoded control message. Throws RingtrainError(RT_BAD_MESSAGE) on any deviation;
 * the caller logs and drops it, so a bad message never reaches training state. The value is
 * checked in place and returned as it is, except that an error code this version does not know
 * reads as RT_INTERNAL rather than being trusted.
 */
export function parseMessage(raw: unknown): Message {
  if (!isObj(raw)) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, 'malformed message: not an object');
  const type = raw['type'];
  if (typeof type !== 'string') throw new RingtrainError(ErrorCodes.BAD_MESSAGE, 'malformed message: missing type');
  if (!Object.hasOwn(parsers, type)) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `unknown message type ${JSON.stringify(type.slice(0, 40))}`);
  const msg = parsers[type as Message['type']](raw);
  if ((msg.type === 'error' || msg.type === 'ring-failed') && !isErrorCode(msg.code)) return { ...msg, code: ErrorCodes.INTERNAL };
  return msg;
}

/**
 * The protocol version a decoded hello or challenge claims, read before the full checks run: a
 * peer of another version may send fields this version does not know, and deserves
 * RT_VERSION_MISMATCH rather than RT_BAD_MESSAGE. Null when `raw` is neither.
 */
export function claimedProtocol(raw: unknown): number | null {
  if (!isObj(raw) || (raw['type'] !== 'hello' && raw['type'] !== 'challenge')) return null;
  const v = raw['protocol'];
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/** Compile-time exhaustiveness check for switches over message types. */
export function assertNever(x: never): never {
  throw new RingtrainError(ErrorCodes.INTERNAL, `unhandled message ${JSON.stringify(x)}`);
}
