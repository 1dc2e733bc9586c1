/**
 * The one protocol file: every control message between coordinator and workers, as a
 * discriminated union on `type`, with one `parseMessage` at the edge. Nothing acts on network data
 * before it has passed these guards, and nothing here uses `as` on untrusted values.
 */
import { ErrorCodes, RingtrainError, isErrorCode, type ErrorCode } from '../base/errors.js';
import { AUTH_BYTES } from './auth.js';

/**
 * A configuration as flat named values. The optim layer (shared/optim) gives them meaning; here
 * they are only data, so the wire format knows no optimizer.
 */
export type ConfigValues = Readonly<Record<string, number | boolean | string>>;

/** Hyper-parameters every rank must share; sent by the coordinator at start. */
export interface TrainParams {
  epochs: number;
  batchSize: number;
  /** The update rule every rank rebuilds (shared/optim `fromConfig`), schedule included. */
  optimizer: { name: string; config: ConfigValues };
  /** Bound on the all-reduced gradient's global norm; 0: no clipping. */
  clipNorm: number;
  seed: number;
  checksumEvery: number;
  stepTimeoutMs: number;
  /** What every rank does when the all-reduced loss or gradient is not finite. */
  onNonfinite: NonFinitePolicy;
  /** Gradient payloads on the wire: float32, or float16 (half the bytes). Absent: 'none'. */
  compress?: (typeof COMPRESSION_NAMES)[number];
  /**
   * Micro-batches of `batchSize` summed locally per all-reduce; each batch message holds up to
   * that many. Absent: 1.
   */
  accumulate?: number;
}

export const NON_FINITE_POLICIES = ['skip', 'abort'] as const;
/** Wire compressions of gradient payloads (config.ts re-exports them for the CLI). */
export const COMPRESSION_NAMES = ['none', 'fp16'] as const;
/** How gradients travel on the ring: float32, or rounded to fp16 on the wire. */
export type Compression = (typeof COMPRESSION_NAMES)[number];
export type NonFinitePolicy = (typeof NON_FINITE_POLICIES)[number];

/** One trainable weight as every rank must see it (see worker/fingerprint.ts). */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}
/** What a rank's model looks like; compared across ranks before training starts. */
export interface ModelFingerprint {
  paramCount: number;
  weights: WeightSpec[];
  /**
   * Hash of every layer's class and configuration (activations, units, initializers), names
   * aside: models with the same weight shapes can still compute different functions.
   */
  architecture?: string;
}

/**
 * An optimizer's state as data (shared/optim's OptimState has this shape): its name and
 * configuration, named per-parameter slots (Adam's m and v, SGD's momentum) and named scalars
 * (Adam's t and beta powers), as torch.optim's state_dict holds them.
 */
export interface OptimStateData {
  optimizer: string;
  config: ConfigValues;
  slots: Record<string, Float32Array>;
  scalars: Record<string, number>;
}

/**
 * Everything a replica's future depends on: weights, optimizer state, how many updates were
 * applied and where the sampler stands. Survivors adopt the most advanced one when membership
 * changes; checkpoints hold one.
 */
export interface TrainState {
  /** Updates applied so far; also the index of the next step. */
  step: number;
  /** Epoch of the next sample, and how many samples of that epoch's order were consumed. */
  epoch: number;
  cursor: number;
  params: Float32Array;
  optim: OptimStateData;
}

export interface StepTimings {
  waitMs: number;
  computeMs: number;
  allreduceMs: number;
  updateMs: number;
  /**
   * Wall time an all-reduce of the step was in flight, the part overlapped with compute included
   * (allreduceMs is only what the step waited for after compute). Absent from older workers.
   */
  commMs?: number;
}

// ---- worker -> coordinator ----
export interface HelloMsg {
  type: 'hello';
  protocol: number;
  /** Address the ring predecessor connects to. */
  ringUrl: string;
  backend: string;
  host: string;
  pid: number;
  /** The job the worker was told on its own command line, if any. */
  job: string | null;
  /** Steps applied by the state this worker holds (from an earlier coordinator), or -1 for none. */
  appliedSteps: number;
  /** Configuration fingerprint of the run that state belongs to (null with no state). */
  stateFingerprint: string | null;
  /** HMAC(token, challenge nonce) when the worker has a token (auth.ts); null otherwise. */
  proof: Uint8Array | null;
  /** The worker's own nonce: the coordinator proves the token over it in `welcome`. */
  nonce: Uint8Array;
}
export interface RingReadyMsg {
  type: 'ring-ready';
  generation: number;
  /** The engine this rank computes with, and why it was chosen. */
  engine: string;
  engineReason: string;
  /** What it computes on (CPU, a CUDA GPU, a WebGPU adapter) and its intra-op threads (null: engine default). Absent from older workers. */
  device?: string;
  threads?: number | null;
  /** The model this rank built; the coordinator refuses to start unless every rank's matches. */
  fingerprint: ModelFingerprint;
  /**
   * This rank holds the coordinator's training split itself (its dataset fingerprint matches
   * `start.dataFingerprint`), so its batches may carry indices only. Absent (an older worker): false.
   */
  localData?: boolean;
}
export interface StepDoneMsg {
  type: 'step-done';
  generation: number;
  step: number;
  /** Global mean loss of the step (identical on every rank: it came through the all-reduce). */
  loss: number;
  /** Global sample count of the step. */
  samples: number;
  checksum: string | null;
  timings: StepTimings;
  /** The reduced loss or gradient was not finite, so no rank applied this step's update. */
  skipped: boolean;
}
/** A worker's full state: on pause (membership change), or after a step the coordinator asked for. */
export interface StateMsg { type: 'state'; generation: number; state: TrainState | null }
/** Which of a rank's ring links failed: its successor, its predecessor, or a mesh peer (ring-collective.ts). */
export type RingLinkRole = 'successor' | 'predecessor' | 'mesh';
/** The peer at the other end of the link that failed. */
export interface RingPeer { rank: number; link: RingLinkRole }
/**
 * The ring broke under this worker; it keeps its state and waits for the coordinator's decision.
 * `peer` names the link that failed when one did (a timeout of the whole collective names none).
 */
export interface RingFailedMsg { type: 'ring-failed'; generation: number; step: number; code: ErrorCode; message: string; peer?: RingPeer }
export interface ErrorMsg { type: 'error'; code: ErrorCode; message: string }

// ---- coordinator -> worker ----
/** First message on every control connection: the nonce the hello must prove the token over. */
export interface ChallengeMsg {
  type: 'challenge';
  protocol: number;
  nonce: Uint8Array;
  /** Whether this coordinator requires a token (a worker's proof is ignored when it does not). */
  auth: boolean;
}
/** Answer to an accepted hello: HMAC(token, worker nonce), so the worker knows its coordinator holds the token too. */
export interface WelcomeMsg {
  type: 'welcome';
  proof: Uint8Array | null;
}
export interface StartMsg {
  type: 'start';
  generation: number;
  rank: number;
  worldSize: number;
  /** Ring address of rank (rank+1) mod worldSize; null when worldSize is 1. */
  successor: string | null;
  /**
   * Every rank's ring address, by rank: the links of the small-message all-reduce (recursive
   * doubling / halving-doubling). Absent or null (an older coordinator): ring only.
   */
  peers?: string[] | null;
  job: string;
  params: TrainParams;
  /** The state every rank adopts before the first step of this generation. */
  state: TrainState;
  /** Configuration fingerprint of the run; a reconnecting worker presents it with its state. */
  fingerprint: string;
  /** Fresh per generation: ranks derive this generation's ring key from it (auth.ts). */
  ringSalt: Uint8Array;
  /**
   * Fingerprint of the coordinator's training split (shared/dataset.ts); a worker holding the
   * same data answers `localData: true` in ring-ready. Absent or null (an older coordinator):
   * batches are streamed.
   */
  dataFingerprint?: string | null;
}
export interface GoMsg { type: 'go'; generation: number }
/**
 * A rank's share of one step: the rows themselves (every named tensor of the job; a v1 job's are
 * x and y), or, for a rank that reported `localData`, only their indices into the training
 * split, from which it gathers the same rows. Exactly one of the two is present.
 */
export type BatchMsg = BatchHead & BatchRows;
export interface BatchHead {
  type: 'batch';
  generation: number;
  step: number;
  epoch: number;
  /** Samples in this worker's share (may be 0 for a short last batch). */
  count: number;
  /** Sampler position after this step: epoch and samples consumed in it. */
  nextEpoch: number;
  nextCursor: number;
  /** Report a weight checksum after this step. */
  checksum: boolean;
  /** Send the full state after this step (epoch end, checkpoint; rank 0 only). */
  sendState: boolean;
}
export type BatchRows =
  | { tensors: BatchTensors; indices?: undefined }
  | { indices: Uint32Array; tensors?: undefined };
/** Named rows of a batch; their widths and dtypes are the worker's to check against its job. */
export type BatchTensors = Record<string, Float32Array | Int32Array>;
/**
 * End of a generation: finish the steps before `atStep` (a step boundary, for joins), or stop at
 * once (`null`: a member was lost), then reply with `state`.
 */
export interface PauseMsg { type: 'pause'; generation: number; atStep: number | null }
export interface FinishMsg { type: 'finish' }

export type WorkerToCoordinator = HelloMsg | RingReadyMsg | StepDoneMsg | StateMsg | RingFailedMsg | ErrorMsg;
export type CoordinatorToWorker = ChallengeMsg | WelcomeMsg | StartMsg | GoMsg | BatchMsg | PauseMsg | FinishMsg | ErrorMsg;
export type Message = WorkerToCoordinator | CoordinatorToWorker;

// ---- guards ----
type Obj = Record<string, unknown>;

function bad(what: string): never {
  throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `malformed message: ${what}`);
}
function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}
function str(o: Obj, k: string, max = 4096): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) bad(`field ${k} must be a string of at most ${max} chars`);
  return v;
}
function strOrNull(o: Obj, k: string): string | null {
  return o[k] === null || o[k] === undefined ? null : str(o, k);
}
/** A list of exactly `len` strings, or null when absent. */
function strListOrNull(o: Obj, k: string, len: number): string[] | null {
  const v = o[k];
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v) || v.length !== len) bad(`field ${k} must be a list of ${len} strings`);
  const out: string[] = [];
  for (const x of v) {
    if (typeof x !== 'string' || x.length > 4096) bad(`field ${k} must hold strings of at most 4096 chars`);
    out.push(x);
  }
  return out;
}
function num(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`field ${k} must be a finite number`);
  return v;
}
/** Like num but allows NaN/Infinity: a diverged loss is information, not a protocol error. */
function anyNum(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number') bad(`field ${k} must be a number`);
  return v;
}
function int(o: Obj, k: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = num(o, k);
  if (!Number.isInteger(v) || v < min || v > max) bad(`field ${k} must be an integer in [${min}, ${max}]`);
  return v;
}
function bool(o: Obj, k: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') bad(`field ${k} must be a boolean`);
  return v;
}
function f32(o: Obj, k: string): Float32Array {
  const v = o[k];
  if (!(v instanceof Float32Array)) bad(`field ${k} must be a Float32Array`);
  return v;
}
const LINK_ROLES: readonly RingLinkRole[] = ['successor', 'predecessor', 'mesh'];

function parseRingPeer(o: Obj): RingPeer {
  const link = str(o, 'link', 16);
  if (!(LINK_ROLES as readonly string[]).includes(link)) bad(`field peer.link must be one of ${LINK_ROLES.join(', ')}`);
  return { rank: int(o, 'rank', 0, 4095), link: link as RingLinkRole };
}

/** Present: neither undefined nor null (how optional fields arrive). */

function has(o: Obj, k: string): boolean {
  return o[k] !== undefined && o[k] !== null;
}
/** Exactly `len` raw bytes (msgpack bin), e.g. a nonce or an HMAC. */
function bytes(o: Obj, k: string, len: number): Uint8Array {
  const v = o[k];
  if (!(v instanceof Uint8Array) || v.length !== len) bad(`field ${k} must be ${len} bytes`);
  return v;
}
function bytesOrNull(o: Obj, k: string, len: number): Uint8Array | null {
  return o[k] === null || o[k] === undefined ? null : bytes(o, k, len);
}
function arr(o: Obj, k: string, max: number): unknown[] {
  const v = o[k];
  if (!Array.isArray(v) || v.length > max) bad(`field ${k} must be an array of at most ${max} items`);
  return v;
}
function obj(o: Obj, k: string): Obj {
  const v = o[k];
  if (!isObj(v)) bad(`field ${k} must be an object`);
  return v;
}

const TENSOR_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const MAX_BATCH_TENSORS = 64;

/** Named float32 or int32 arrays (their widths are the worker's to check). */
function tensors(o: Obj, k: string): BatchTensors {
  const t = obj(o, k);
  const names = Object.keys(t);
  if (names.length === 0 || names.length > MAX_BATCH_TENSORS) bad(`field ${k} must name 1 to ${MAX_BATCH_TENSORS} tensors`);
  for (const n of names) {
    if (!TENSOR_NAME.test(n)) bad(`field ${k} has a bad tensor name`);
    const v = t[n];
    if (!(v instanceof Float32Array) && !(v instanceof Int32Array)) bad(`tensor ${n} must be a Float32Array or an Int32Array`);
  }
  return t as BatchTensors;
}

/** Rows or indices, exactly one of the two; indices must number `count` (their range is the worker's to check). */
function parseBatchRows(o: Obj, count: number): BatchRows {
  const rows = has(o, 'tensors');
  if (rows === has(o, 'indices')) bad('a batch must carry either tensors or indices');
  if (rows) return { tensors: tensors(o, 'tensors') };
  const v = o['indices'];
  if (!(v instanceof Uint32Array) || v.length !== count) bad(`field indices must be a Uint32Array of count (${count}) entries`);
  return { indices: v };
}

function parseTrainParams(o: Obj): TrainParams {
  return {
    epochs: int(o, 'epochs', 1),
    batchSize: int(o, 'batchSize', 1),
    optimizer: parseOptimizerRef(obj(o, 'optimizer')),
    clipNorm: num(o, 'clipNorm'),
    seed: int(o, 'seed', 0, 2 ** 32 - 1),
    checksumEvery: int(o, 'checksumEvery', 1),
    stepTimeoutMs: int(o, 'stepTimeoutMs', 1),
    onNonfinite: oneOf(o, 'onNonfinite', NON_FINITE_POLICIES),
    ...(o['compress'] === undefined ? {} : { compress: oneOf(o, 'compress', COMPRESSION_NAMES) }),
    ...(o['accumulate'] === undefined ? {} : { accumulate: int(o, 'accumulate', 1, 1024) }),
  };
}

/** Most named values a configuration, slot set or scalar set may hold. */
const MAX_NAMED = 32;

/** A flat object of named values of one kind; bounded so a hostile one costs little to check. */
function named<T>(o: Obj, k: string, value: (v: unknown) => T | undefined, what: string): Record<string, T> {
  const v = obj(o, k);
  const entries = Object.entries(v);
  if (entries.length > MAX_NAMED) bad(`field ${k} must hold at most ${MAX_NAMED} entries`);
  const out: Record<string, T> = {};
  for (const [name, x] of entries) {
    const ok = value(x);
    if (name.length > 64 || ok === undefined) bad(`field ${k}.${name.slice(0, 64)} must be ${what}`);
    out[name] = ok;
  }
  return out;
}
const configValue = (x: unknown): number | boolean | string | undefined =>
  (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'boolean' || (typeof x === 'string' && x.length <= 64) ? x : undefined;

function parseOptimizerRef(o: Obj): TrainParams['optimizer'] {
  return { name: str(o, 'name', 64), config: named(o, 'config', configValue, 'a finite number, boolean or short string') };
}

/** The state's shape only; whether it suits the run's optimizer is shared/optim `checkState`'s to say. */
function parseState(o: Obj): TrainState {
  const params = f32(o, 'params');
  const optim = obj(o, 'optim');
  const slots = named(optim, 'slots', (x) => (x instanceof Float32Array ? x : undefined), 'a Float32Array');
  if (Object.values(slots).some((a) => a.length !== params.length)) bad('optimizer slots must match the parameter count');
  return {
    step: int(o, 'step'), epoch: int(o, 'epoch'), cursor: int(o, 'cursor'), params,
    optim: {
      optimizer: str(optim, 'optimizer', 64), config: named(optim, 'config', configValue, 'a finite number, boolean or short string'),
      slots, scalars: named(optim, 'scalars', (x) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined), 'a finite number'),
    },
  };
}

function errorCode(o: Obj): ErrorCode {
  const code = o['code'];
  return isErrorCode(code) ? code : ErrorCodes.INTERNAL;
}

/** Validates a TrainState from any source (network or checkpoint file). */
export function parseTrainState(raw: unknown): TrainState {
  if (!isObj(raw)) bad('state must be an object');
  return parseState(raw);
}

function oneOf<T extends string>(o: Obj, k: string, allowed: readonly T[]): T {
  const v = o[k];
  const hit = allowed.find((a) => a === v);
  if (hit === undefined) bad(`field ${k} must be one of ${allowed.join('|')}`);
  return hit;
}

/** Bounds keep a hostile fingerprint from costing more than a small message to check. */
function parseFingerprint(o: Obj): ModelFingerprint {
  const weights = arr(o, 'weights', 10_000).map((w): WeightSpec => {
    if (!isObj(w)) bad('fingerprint weights must be objects');
    const shape = arr(w, 'shape', 16).map((d) => {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) bad('fingerprint shapes must hold non-negative integers');
      return d;
    });
    return { name: str(w, 'name', 256), shape, dtype: str(w, 'dtype', 16) };
  });
  const architecture = o['architecture'];
  if (architecture !== undefined && (typeof architecture !== 'string' || architecture.length > 128)) bad('fingerprint architecture must be a short string');
  return { paramCount: int(o, 'paramCount'), weights, ...(architecture === undefined ? {} : { architecture }) };
}

function parseTimings(o: Obj): StepTimings {
  return {
    waitMs: num(o, 'waitMs'), computeMs: num(o, 'computeMs'), allreduceMs: num(o, 'allreduceMs'), updateMs: num(o, 'updateMs'),
    ...(o['commMs'] === undefined ? {} : { commMs: num(o, 'commMs') }),
  };
}

/**
 * Validates a decoded control message. Throws RingtrainError(RT_BAD_MESSAGE) on any deviation;
 * the caller logs and drops it, so a bad message never reaches training state.
 */
export function parseMessage(raw: unknown): Message {
  if (!isObj(raw)) bad('not an object');
  const type = raw['type'];
  if (typeof type !== 'string') bad('missing type');
  switch (type) {
    case 'hello':
      return {
        type, protocol: int(raw, 'protocol'), ringUrl: str(raw, 'ringUrl', 1024), backend: str(raw, 'backend', 64),
        host: str(raw, 'host', 256), pid: int(raw, 'pid'), job: strOrNull(raw, 'job'), appliedSteps: int(raw, 'appliedSteps', -1),
        stateFingerprint: strOrNull(raw, 'stateFingerprint'), proof: bytesOrNull(raw, 'proof', AUTH_BYTES), nonce: bytes(raw, 'nonce', AUTH_BYTES),
      };
    case 'ring-ready':
      return {
        type, generation: int(raw, 'generation'), engine: str(raw, 'engine', 64), engineReason: str(raw, 'engineReason'),
        fingerprint: parseFingerprint(obj(raw, 'fingerprint')),
        ...(has(raw, 'localData') ? { localData: bool(raw, 'localData') } : {}),
        ...(has(raw, 'device') ? { device: str(raw, 'device', 256) } : {}),
        // null (the engine's own thread count) reads as absent, which the coordinator reports as null.
        ...(has(raw, 'threads') ? { threads: int(raw, 'threads', 1, 4096) } : {}),
      };
    case 'step-done': {
      const checksum = strOrNull(raw, 'checksum');
      return {
        type, generation: int(raw, 'generation'), step: int(raw, 'step'), loss: anyNum(raw, 'loss'),
        samples: int(raw, 'samples'), checksum, timings: parseTimings(obj(raw, 'timings')), skipped: bool(raw, 'skipped'),
      };
    }
    case 'state':
      return { type, generation: int(raw, 'generation'), state: raw['state'] === null ? null : parseState(obj(raw, 'state')) };
    case 'ring-failed':
      return {
        type, generation: int(raw, 'generation'), step: int(raw, 'step'), code: errorCode(raw), message: str(raw, 'message'),
        ...(has(raw, 'peer') ? { peer: parseRingPeer(obj(raw, 'peer')) } : {}),
      };
    case 'error':
      return { type, code: errorCode(raw), message: str(raw, 'message') };
    case 'start': {
      const worldSize = int(raw, 'worldSize', 1, 4096);
      const rank = int(raw, 'rank', 0, worldSize - 1);
      return {
        type, generation: int(raw, 'generation'), rank, worldSize, successor: strOrNull(raw, 'successor'), peers: strListOrNull(raw, 'peers', worldSize),
        job: str(raw, 'job'), params: parseTrainParams(obj(raw, 'params')), state: parseState(obj(raw, 'state')),
        fingerprint: str(raw, 'fingerprint', 128), ringSalt: bytes(raw, 'ringSalt', AUTH_BYTES), dataFingerprint: strOrNull(raw, 'dataFingerprint'),
      };
    }
    case 'challenge':
      return { type, protocol: int(raw, 'protocol'), nonce: bytes(raw, 'nonce', AUTH_BYTES), auth: bool(raw, 'auth') };
    case 'welcome':
      return { type, proof: bytesOrNull(raw, 'proof', AUTH_BYTES) };
    case 'go':
      return { type, generation: int(raw, 'generation') };
    case 'batch': {
      const count = int(raw, 'count');
      return {
        type, generation: int(raw, 'generation'), step: int(raw, 'step'), epoch: int(raw, 'epoch'),
        count, nextEpoch: int(raw, 'nextEpoch'), nextCursor: int(raw, 'nextCursor'), ...parseBatchRows(raw, count),
        checksum: bool(raw, 'checksum'), sendState: bool(raw, 'sendState'),
      };
    }
    case 'pause': {
      const atStep = raw['atStep'];
      return { type, generation: int(raw, 'generation'), atStep: atStep === null ? null : int(raw, 'atStep') };
    }
    case 'finish':
      return { type };
    default:
      throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `unknown message type ${JSON.stringify(type.slice(0, 40))}`);
  }
}

/**
 * The protocol version a decoded hello or challenge claims, read before the full guards run: a
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
