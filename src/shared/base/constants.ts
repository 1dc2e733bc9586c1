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
  /** Worker: after losing the coordinator, how long to keep retrying (state is kept meanwhile). */
  reconnectTimeoutMs: 60_000,
  /** Coordinator: how long rendezvous may wait for `--min-workers` to arrive (also after a loss). */
  rendezvousTimeoutMs: 120_000,
  /** Coordinator: once `--min-workers` are in, wait this long for more before forming a generation. */
  rendezvousGraceMs: 1_000,
  /** Coordinator: ping interval on every worker link, and silence after which a worker is lost. */
  heartbeatIntervalMs: 2_000,
  heartbeatTimeoutMs: 10_000,
  /** Worker: silence from the coordinator (no ping) after which it is considered lost. */
  coordinatorSilenceMs: 15_000,
  /** Worker: longest wait for any instruction while idle between generations. */
  idleTimeoutMs: 300_000,
  /** Coordinator: survivors must report their state this soon after a pause. */
  stateTimeoutMs: 30_000,
  /** Coordinator: warn naming the ranks a step waits for after this long (stall inspector). */
  stallWarnMs: 10_000,
  /** Coordinator: write a checkpoint every this many steps (and at every epoch end). */
  checkpointEvery: 50,
  /** Coordinator: consecutive generations that end without a committed step before giving up. */
  maxFruitlessGenerations: 5,
  /** A peer must authenticate (control hello or ring hello) this soon after its socket opens. */
  helloTimeoutMs: 5_000,
  /** Sockets still unauthenticated at once, per listener; more are refused at the HTTP upgrade. */
  maxPendingConnections: 32,
  /**
   * Ring listener: sockets one source address may hold at once before they are authenticated.
   * A peer dials a rank over at most a few links per generation; more from one source is a flood.
   */
  maxPendingPerSource: 8,
  /** Refusals of one source are logged at most once per this interval (with a count). */
  refusalLogIntervalMs: 10_000,
  /** Malformed messages an unauthenticated socket may send before it is closed. */
  maxBadMessagesBeforeAuth: 32,
  /** Room for a control message's envelope around its arrays (field names, numbers, strings). */
  controlEnvelopeBytes: 64 * 1024,
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
  /** Coordinator: after a rank reports a broken ring, how long to wait for the lost peer's socket to close. */
  rootCauseGraceMs: 3_000,
  /**
   * Batches streamed ahead of the step being computed, per worker. More than reportBatchSteps: a
   * worker may hold that many step reports back, and must still find its next batch waiting.
   */
  prefetchSteps: 8,
  /**
   * Worker: step reports held back to leave as one `reports` message (ControlClient.report). A
   * small write and the wake-up it causes cost about 0.15 ms on a 2-core VM, a few percent of a 6 ms step.
   */
  reportBatchSteps: 4,
  /** Worker: the longest a step report is held back, so slow steps report at once. */
  reportHoldMs: 25,
  /**
   * Ring chunk size: large enough to amortise the cost per frame, small enough to pipeline. Every
   * frame costs far more than its header: on a 2-core VM, 16 MiB all-reduces took 1.4–1.9× as long
   * (and as much CPU) with 256 KiB chunks as with 1 MiB at N = 2, 4 and 8, whatever the send
   * window, and 4 MiB chunks took another 5–15% less CPU than 1 MiB. At most ringMaxMessageBytes.
   */
  ringChunkBytes: 4 * 1024 * 1024,
  /**
   * All-reduces of at most this many bytes use recursive doubling instead of the ring: log2(N)
   * latency-bound rounds beat the ring's 2(N-1) hops while the buffer is small.
   */
  smallAllreduceMaxBytes: 256 * 1024,
  /**
   * Up to this size (and N a power of two) halving-doubling; above it the pipelined ring, which
   * keeps bandwidth-bound links busy without round boundaries.
   */
  midAllreduceMaxBytes: 4 * 1024 * 1024,
  /** Largest message a ring peer may send: one chunk or one small all-reduce payload. */
  ringMaxMessageBytes: 4 * 1024 * 1024,
  /**
   * Gradient bucket size: buckets are all-reduced as soon as their gradients are read back, while
   * later ones still are (overlap). Smaller buckets overlap more but pay more per-call latency.
   */
  gradientBucketBytes: 256 * 1024,
  /**
   * A ring link's socket reads into one buffer of this size (fixed-read.ts): large enough
   * to take what loopback's socket buffer holds in one read (about 500 KB per read measured).
   */
  ringReadBufferBytes: 1024 * 1024,
  /** Data frames a ring link hands its socket at once; further ones wait in order. */
  ringSendWindow: 8,
  /** Received-frame buffers a collective keeps for reuse (each at most ringMaxMessageBytes). */
  ringPooledBuffers: 32,
  /** Values a mesh link may buffer for a collective this rank has not reached yet. */
  ringMaxBufferedValues: 2 ** 28,
  /** Control messages carry batches and weights; anything larger than this is refused. */
  maxControlPayloadBytes: 256 * 1024 * 1024,
  /** Coordinator: more consecutive non-finite (skipped) steps than this fail the run. */
  maxNonfiniteSkips: 10,
  /** Compare replica checksums every this many steps (and always at the end). */
  checksumEvery: 10,
} as const;

/**
 * Bumped whenever a message changes shape, or ranks of two versions would compute different bits
 * from the same messages; checked at hello (git log tells what each bump changed).
 */
export const PROTOCOL_VERSION = 10;
