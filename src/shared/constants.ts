/**
 * Every default timeout and limit in one place, so a reader can see what waits exist and how long
 * each one lasts. Flags override the ones users are likely to tune.
 */
export const Defaults = {
  /** Worker: total time spent retrying the coordinator connection before giving up. */
  connectTimeoutMs: 30_000,
  /** Worker: first retry delay; doubles each attempt up to `connectBackoffMaxMs`. */
  connectBackoffMs: 100,
  connectBackoffMaxMs: 2_000,
  /** Coordinator: how long rendezvous may wait for `--min-workers` to arrive. */
  rendezvousTimeoutMs: 120_000,
  /** Coordinator: a worker must say hello this soon after its socket opens. */
  helloTimeoutMs: 10_000,
  /** Worker: forming the ring (connecting to the successor and accepting the predecessor). */
  ringConnectTimeoutMs: 30_000,
  /**
   * Worker: starting the compute engine (load, probe step, GPU shader compilation, CUDA
   * initialisation). Ranks wait for the slowest one before training, so this bounds that wait.
   */
  engineStartTimeoutMs: 180_000,
  /** One training step (waiting for a batch, compute, all-reduce) must finish within this. */
  stepTimeoutMs: 120_000,
  /** Coordinator: end-of-run handshake (final weights, goodbyes). */
  finishTimeoutMs: 60_000,
  /** Batches streamed ahead of the step being computed, per worker. */
  prefetchSteps: 4,
  /** Ring chunk size: large enough to amortise frame overhead, small enough to pipeline. */
  ringChunkBytes: 256 * 1024,
  /** Control messages carry batches and weights; anything larger than this is refused. */
  maxControlPayloadBytes: 256 * 1024 * 1024,
  /** Compare replica checksums every this many steps (and always at the end). */
  checksumEvery: 10,
} as const;

/** Bumped whenever a message changes shape; checked at hello. */
export const PROTOCOL_VERSION = 1;
