/**
 * Membership messages: the coordinator fixes a generation (`start`: rank, ring neighbours, the
 * run's parameters and the state to adopt), each rank answers `ring-ready` once its ring links
 * stand, `ring-failed` when they break, and the coordinator ends a generation (`pause`) or the
 * run (`finish`).
 */
import { AUTH_BYTES } from './auth.js';
import { WireErrorCode } from './handshake.js';
import { Bytes, Closed, Finite, Int, Msg, OneOf, OrNull, Str, Type, type Static } from './schema.js';
import { ConfigValuesSchema, TrainStateSchema } from './state.js';

export const NON_FINITE_POLICIES = ['skip', 'abort'] as const;
/** Wire compressions of gradient payloads (config.ts re-exports them for the CLI). */
export const COMPRESSION_NAMES = ['none', 'fp16'] as const;
/** How gradients travel on the ring: float32, or rounded to fp16 on the wire. */
export type Compression = (typeof COMPRESSION_NAMES)[number];
export type NonFinitePolicy = (typeof NON_FINITE_POLICIES)[number];

/** Hyper-parameters every rank must share; sent by the coordinator at start. */
export const TrainParamsSchema = Closed({
  epochs: Int(1),
  batchSize: Int(1),
  /** The update rule every rank rebuilds (shared/optim `fromConfig`), schedule included. */
  optimizer: Closed({ name: Str(64), config: ConfigValuesSchema }),
  /** Bound on the all-reduced gradient's global norm; 0: no clipping. */
  clipNorm: Finite(),
  seed: Int(0, 2 ** 32 - 1),
  checksumEvery: Int(1),
  stepTimeoutMs: Int(1),
  /** What every rank does when the all-reduced loss or gradient is not finite. */
  onNonfinite: OneOf(NON_FINITE_POLICIES),
  /** Gradient payloads on the wire: float32, or float16 (half the bytes). */
  compress: OneOf(COMPRESSION_NAMES),
  /** Micro-batches of `batchSize` summed locally per all-reduce; each batch message holds up to that many. */
  accumulate: Int(1, 1024),
});
export type TrainParams = Static<typeof TrainParamsSchema>;

/** The state every rank adopts, the ring it forms and the run it belongs to. */
export const StartSchema = Type.Refine(
  Msg('start', {
    generation: Int(),
    rank: Int(0, 4095),
    worldSize: Int(1, 4096),
    /** Ring address of rank (rank+1) mod worldSize; null when worldSize is 1. */
    successor: OrNull(Str()),
    /**
     * Every rank's ring address, by rank: the links of the small-message all-reduce (recursive
     * doubling / halving-doubling); null when worldSize is 1.
     */
    peers: OrNull(Type.Array(Str(), { maxItems: 4096 })),
    job: Str(),
    params: TrainParamsSchema,
    /** The state every rank adopts before the first step of this generation. */
    state: TrainStateSchema,
    /** Configuration fingerprint of the run; a reconnecting worker presents it with its state. */
    fingerprint: Str(128),
    /** Fresh per generation: ranks derive this generation's ring key from it (auth.ts). */
    ringSalt: Bytes(AUTH_BYTES),
    /**
     * Fingerprint of the coordinator's training split (shared/data); a worker holding the same
     * data answers `localData: true` in ring-ready. Null: the coordinator has none to offer.
     */
    dataFingerprint: OrNull(Str()),
  }),
  (m) => m.rank < m.worldSize && (m.peers === null || m.peers.length === m.worldSize),
  () => 'must have a rank below worldSize, and worldSize peers or none',
);
export type StartMsg = Static<typeof StartSchema>;

/** One trainable weight as every rank must see it (see shared/engine/fingerprint.ts). */
export const WeightSpecSchema = Closed({ name: Str(256), shape: Type.Array(Int(), { maxItems: 16 }), dtype: Str(16) });
export type WeightSpec = Static<typeof WeightSpecSchema>;

/** What a rank's model looks like; compared across ranks before training starts. Bounded so a hostile one costs little to check. */
export const ModelFingerprintSchema = Closed({
  paramCount: Int(),
  weights: Type.Array(WeightSpecSchema, { maxItems: 10_000 }),
  /**
   * Hash of every layer's class and configuration (activations, units, initializers), names
   * aside: models with the same weight shapes can still compute different functions.
   */
  architecture: Str(128),
});
export type ModelFingerprint = Static<typeof ModelFingerprintSchema>;

/** A rank's ring links stand and its engine is up: it can take batches. */
export const RingReadySchema = Msg('ring-ready', {
  generation: Int(),
  /** The engine this rank computes with, and why it was chosen. */
  engine: Str(64),
  engineReason: Str(),
  /** What it computes on (CPU, a CUDA GPU, a WebGPU adapter). */
  device: Str(256),
  /** Its intra-op threads; null: the engine's own choice. */
  threads: OrNull(Int(1, 4096)),
  /** The model this rank built; the coordinator refuses to start unless every rank's matches. */
  fingerprint: ModelFingerprintSchema,
  /**
   * This rank holds the coordinator's training split itself (its dataset fingerprint matches
   * `start.dataFingerprint`), so its batches may carry indices only.
   */
  localData: Type.Boolean(),
});
export type RingReadyMsg = Static<typeof RingReadySchema>;

/** Which of a rank's ring links failed: its successor, its predecessor, or a mesh peer (shared/collective). */
export const RING_LINK_ROLES = ['successor', 'predecessor', 'mesh'] as const;
export type RingLinkRole = (typeof RING_LINK_ROLES)[number];
/** The peer at the other end of the link that failed. */
export const RingPeerSchema = Closed({ rank: Int(0, 4095), link: OneOf(RING_LINK_ROLES) });
export type RingPeer = Static<typeof RingPeerSchema>;

/**
 * The ring broke under this worker; it keeps its state and waits for the coordinator's decision.
 * `peer` names the link that failed when one did (a timeout of the whole collective names none).
 */
export const RingFailedSchema = Msg('ring-failed', {
  generation: Int(),
  step: Int(),
  code: WireErrorCode(),
  message: Str(),
  peer: Type.Optional(RingPeerSchema),
});
export type RingFailedMsg = Static<typeof RingFailedSchema>;

/**
 * End of a generation: finish the steps before `atStep` (a step boundary, for joins), or stop at
 * once (`null`: a member was lost), then reply with `state`.
 */
export const PauseSchema = Msg('pause', { generation: Int(), atStep: OrNull(Int()) });
export type PauseMsg = Static<typeof PauseSchema>;

export const FinishSchema = Msg('finish', {});
export type FinishMsg = Static<typeof FinishSchema>;
