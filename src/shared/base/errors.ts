/**
 * One error class with stable codes, so scripts and tests can match on `code` while the message
 * stays free to explain what to do. Codes never change meaning once released.
 */
export const ErrorCodes = {
  BAD_CONFIG: 'RT_BAD_CONFIG',
  UNKNOWN_JOB: 'RT_UNKNOWN_JOB',
  JOB_LOAD: 'RT_JOB_LOAD',
  JOB_REQUIRED: 'RT_JOB_REQUIRED',
  JOB_INVALID: 'RT_JOB_INVALID',
  CONNECT_FAILED: 'RT_CONNECT_FAILED',
  BAD_MESSAGE: 'RT_BAD_MESSAGE',
  VERSION_MISMATCH: 'RT_VERSION_MISMATCH',
  UNEXPECTED_MESSAGE: 'RT_UNEXPECTED_MESSAGE',
  TIMEOUT: 'RT_TIMEOUT',
  RING_FAILED: 'RT_RING_FAILED',
  BAD_FRAME: 'RT_BAD_FRAME',
  WORKER_LOST: 'RT_WORKER_LOST',
  COORDINATOR_LOST: 'RT_COORDINATOR_LOST',
  REPLICA_DIVERGED: 'RT_REPLICA_DIVERGED',
  MODEL_MISMATCH: 'RT_MODEL_MISMATCH',
  BACKEND_UNAVAILABLE: 'RT_BACKEND_UNAVAILABLE',
  ENGINE_INSTALL: 'RT_ENGINE_INSTALL',
  ABORTED: 'RT_ABORTED',
  RUN_FULL: 'RT_RUN_FULL',
  BAD_CHECKPOINT: 'RT_BAD_CHECKPOINT',
  CHECKPOINT_MISMATCH: 'RT_CHECKPOINT_MISMATCH',
  TOO_FEW_WORKERS: 'RT_TOO_FEW_WORKERS',
  AUTH_FAILED: 'RT_AUTH_FAILED',
  TLS: 'RT_TLS',
  TOO_LARGE: 'RT_TOO_LARGE',
  BUSY: 'RT_BUSY',
  NON_FINITE: 'RT_NON_FINITE',
  /** A packed dataset or pack input that is malformed, truncated or corrupt (hash mismatch). */
  BAD_DATA: 'RT_BAD_DATA',
  /** Data that does not fit the job, or a worker's data file that differs from the coordinator's. */
  DATA_MISMATCH: 'RT_DATA_MISMATCH',
  INTERNAL: 'RT_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const KNOWN = new Set<string>(Object.values(ErrorCodes));

/** True when `code` is one of ringtrain's stable codes (used to validate codes received remotely). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN.has(code);
}

/** The only error type ringtrain throws on purpose; `message` is one line meant for a person. */
export class RingtrainError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RingtrainError';
    this.code = code;
  }
}

/** Wraps anything thrown into a RingtrainError without losing an existing code. */
export function toRingtrainError(err: unknown, fallback: ErrorCode = ErrorCodes.INTERNAL): RingtrainError {
  if (err instanceof RingtrainError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RingtrainError(fallback, message, { cause: err });
}

/** The one-line form printed by the CLI: `error RT_CODE: message`. */
export function formatError(err: unknown): string {
  const e = toRingtrainError(err);
  return `error ${e.code}: ${e.message.replace(/\s*\n\s*/g, ' ')}`;
}

/** The stack behind an error: its cause's when it wraps one (RT_INTERNAL wraps what was thrown). */
export function stackOf(err: RingtrainError): string | undefined {
  return err.cause instanceof Error ? err.cause.stack : err.stack;
}

/**
 * Logs the stack of an unexpected (RT_INTERNAL) error at debug level: the one-line message is
 * for the user, the stack for whoever reports the bug.
 */
export function logStack(log: { debug(obj: object, msg: string): void }, err: RingtrainError): void {
  if (err.code === ErrorCodes.INTERNAL) log.debug({ stack: stackOf(err) }, 'internal error stack');
}
