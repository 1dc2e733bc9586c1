/**
 * The worker's link to the coordinator. Connecting retries with exponential backoff up to a
 * deadline (the coordinator may start after its workers), then fails naming the address; a TLS
 * mismatch or a different protocol version fails at once, since retrying cannot fix it. The
 * coordinator's first message is a challenge; `proof` answers it. Incoming messages are
 * validated and queued; malformed ones are logged and dropped.
 *
 * A worker with a token believes nothing before the coordinator's welcome has proved the token:
 * whatever else listens on the coordinator's port (a squatter while it restarts) can say anything,
 * so an error, a wrong welcome or silence there only ends that connection, and the worker keeps
 * reconnecting until its deadline. The last such refusal is what it reports if the deadline passes.
 */
import { WebSocket } from 'ws';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { decodeMessage, decodeRaw, encodeMessage } from '../protocol/codec.js';
import { Mailbox } from '../base/mailbox.js';
import { COORDINATOR_TYPES, claimedProtocol, parseMessage, type ChallengeMsg, type CoordinatorToWorker, type StepDoneMsg, type WorkerWire } from '../protocol/protocol.js';
import { PROTOCOL_VERSION } from '../base/constants.js';
import { ReportBatcher } from './report-batcher.js';
import { controlProof, newNonce, proofMatches, welcomeProof } from '../protocol/auth.js';
import { clientTlsOptions, explainTlsError, type TlsMaterial } from './tls.js';
import type { Logger } from '../base/logger.js';

export interface ControlAuth {
  token: string | null;
  tls: TlsMaterial | null;
}

/**
 * A refusal from a coordinator that has not proved the token: it ends the connection, never the
 * worker (retried until the deadline, then reported as this error).
 */
export class UnverifiedRefusal extends Error {
  constructor(readonly refusal: RingtrainError) {
    super(refusal.message);
  }
}

/** Reads the challenge that opens every control connection; throws when it is missing or of another version. */
function readChallenge(data: Buffer, url: string, verifies: boolean): ChallengeMsg {
  try {
    return readChallengeOrThrow(data, url);
  } catch (err) {
    // With a token, nothing before the welcome is proved to come from the coordinator.
    if (verifies && err instanceof RingtrainError) throw new UnverifiedRefusal(err);
    throw err;
  }
}

function readChallengeOrThrow(data: Buffer, url: string): ChallengeMsg {
  const raw = decodeRaw(data);
  const version = claimedProtocol(raw);
  if (version !== null && version !== PROTOCOL_VERSION) {
    throw new RingtrainError(ErrorCodes.VERSION_MISMATCH, `coordinator ${url} speaks protocol ${version}, this worker speaks ${PROTOCOL_VERSION}; run the same ringtrain version everywhere`);
  }
  const msg = parseMessage(raw);
  if (msg.type === 'error') throw new RingtrainError(msg.code, `coordinator: ${msg.message}`);
  if (msg.type !== 'challenge') throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `coordinator ${url} opened with ${msg.type}, not a challenge`);
  return msg;
}

/** What a worker accepts after the challenge (a second challenge is out of place). */
function isFromCoordinator(m: { type: string }): m is CoordinatorToWorker {
  return m.type !== 'challenge' && COORDINATOR_TYPES.has(m.type);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ControlClient {
  readonly inbox = new Mailbox<CoordinatorToWorker>();
  /** Sees every message as it arrives, before it is queued: lets an abort interrupt a step. */
  onMessage: ((msg: CoordinatorToWorker) => void) | null = null;
  private closing = false;
  private watchdog: NodeJS.Timeout;
  /** Step reports held back to leave together as one `reports` message. */
  private readonly reports = new ReportBatcher<StepDoneMsg>(
    (reports) => this.write({ type: 'reports', reports }),
    { maxItems: Defaults.reportBatchSteps, holdMs: Defaults.reportHoldMs },
  );

  /** The hello's auth fields: proof over the coordinator's nonce (null without a token), and our nonce. */
  readonly helloAuth: { proof: Uint8Array | null; nonce: Uint8Array };
  /** Secret the ring keys derive from: the token when the coordinator checks it, else empty. */
  readonly ringSecret: string;
  /** Set once the coordinator's welcome proved the token (at once when this worker has none). */
  private coordinatorTrusted: boolean;
  /** Ends a connection whose coordinator has not proved the token in time. */
  private welcomeTimer: NodeJS.Timeout | undefined;
  /** Why this connection ended without the coordinator proving the token, if it did. */
  refusal: RingtrainError | null = null;
  /** Unproved messages ignored since the last debug line about them (rate-limited logging). */
  private ignored = 0;
  private lastIgnoredLog = 0;

  private constructor(
    private readonly ws: WebSocket,
    readonly url: string,
    private readonly log: Logger,
    challenge: ChallengeMsg,
    private readonly auth: ControlAuth,
    /** The local address of this connection: the address the coordinator can reach us at. */
    readonly localAddress: string,
  ) {
    this.helloAuth = { proof: auth.token === null ? null : controlProof(auth.token, challenge.nonce), nonce: newNonce() };
    this.ringSecret = auth.token ?? '';
    this.coordinatorTrusted = auth.token === null;
    // The coordinator pings every few seconds; silence means it is gone even if TCP has not said so.
    const silence = (): NodeJS.Timeout =>
      setTimeout(() => {
        this.log.warn({ code: ErrorCodes.COORDINATOR_LOST, url, silenceMs: Defaults.coordinatorSilenceMs }, 'no heartbeat from coordinator; dropping the connection');
        ws.terminate();
      }, Defaults.coordinatorSilenceMs);
    this.watchdog = silence();
    if (!this.coordinatorTrusted) {
      this.welcomeTimer = setTimeout(() => this.distrust(new RingtrainError(ErrorCodes.AUTH_FAILED, `coordinator ${url} did not prove the token within ${Defaults.helloTimeoutMs * 2} ms`)), Defaults.helloTimeoutMs * 2);
    }
    ws.on('ping', () => {
      clearTimeout(this.watchdog);
      this.watchdog = silence();
    });
    ws.on('message', (data: Buffer) => {
      try {
        const msg = decodeMessage(data);
        if (!isFromCoordinator(msg)) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `a worker does not accept ${msg.type} messages`);
        if (msg.type === 'welcome') return this.onWelcome(msg.proof);
        if (!this.coordinatorTrusted) return this.ignoreUnproved(msg);
        this.onMessage?.(msg);
        this.inbox.push(msg);
      } catch (err) {
        const e = err instanceof RingtrainError ? err : new RingtrainError(ErrorCodes.BAD_MESSAGE, String(err));
        this.log.warn({ code: e.code, err: e.message }, 'dropped bad message from coordinator');
      }
    });
    ws.on('close', (code, reason) => {
      this.reports.clear();
      clearTimeout(this.watchdog);
      clearTimeout(this.welcomeTimer);
      this.inbox.close(new RingtrainError(ErrorCodes.COORDINATOR_LOST, `connection to coordinator ${url} closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    });
    ws.on('error', (err) => this.log.warn({ err: err.message }, 'coordinator connection error'));
  }

  /** True once the coordinator has proved the token (or this worker has none to check). */
  get trusted(): boolean {
    return this.coordinatorTrusted;
  }

  private onWelcome(proof: Uint8Array | null): void {
    const token = this.auth.token;
    if (token === null || this.coordinatorTrusted) return;
    if (proofMatches(welcomeProof(token, this.helloAuth.nonce), proof)) {
      this.coordinatorTrusted = true;
      clearTimeout(this.welcomeTimer);
      return;
    }
    const why = proof === null ? 'does not check tokens; give it the same token as this worker' : 'could not prove this worker\'s token';
    this.distrust(new RingtrainError(ErrorCodes.AUTH_FAILED, `coordinator ${this.url} ${why}`));
  }

  /**
   * Ends a connection whose other end has not proved the token: the worker reconnects (the inbox
   * closes with COORDINATOR_LOST), remembering why, in case its deadline passes.
   */
  private distrust(why: RingtrainError): void {
    if (this.refusal) return;
    this.refusal = why;
    clearTimeout(this.welcomeTimer);
    this.log.warn({ code: why.code, url: this.url, err: why.message }, 'coordinator not proved; dropping the connection and reconnecting');
    this.inbox.close(new RingtrainError(ErrorCodes.COORDINATOR_LOST, `${why.message}; reconnecting`));
    this.close();
  }

  /**
   * A message before the welcome proved the token: anyone on the coordinator's port could have
   * sent it, so it is ignored (logged at debug, at most once a second). An error there is the
   * only sign a real coordinator gives of a wrong token or a full run, so it ends the connection.
   */
  private ignoreUnproved(msg: CoordinatorToWorker): void {
    this.ignored++;
    const now = Date.now();
    if (now - this.lastIgnoredLog >= 1_000) {
      this.log.debug({ type: msg.type, ignored: this.ignored }, 'message before the coordinator proved the token ignored');
      this.lastIgnoredLog = now;
      this.ignored = 0;
    }
    if (msg.type === 'error') this.distrust(new RingtrainError(msg.code, `coordinator (unverified): ${msg.message}`));
  }

  /**
   * Connects, retrying until `timeoutMs` has passed. `refused` is the last unverified refusal of
   * an earlier connection (see distrust), reported if the deadline passes without a challenge.
   */
  static async connect(url: string, timeoutMs: number, log: Logger, auth: ControlAuth = { token: null, tls: null }, refused: RingtrainError | null = null): Promise<ControlClient> {
    const deadline = Date.now() + timeoutMs;
    let delay: number = Defaults.connectBackoffMs;
    let attempts = 0;
    let lastError = 'no attempt made';
    let refusal = refused;
    while (attempts === 0 || Date.now() < deadline) {
      attempts++;
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: Defaults.maxControlPayloadBytes,
        handshakeTimeout: Math.max(1, Math.min(10_000, deadline - Date.now())),
        ...clientTlsOptions(auth.tls),
      });
      try {
        // The upgrade response is where ws shows the connection's socket, and so our own address.
        let local = '127.0.0.1';
        ws.once('upgrade', (res) => {
          if (res.socket.localAddress) local = res.socket.localAddress.replace(/^::ffff:/, '');
        });
        // The challenge can arrive in the same packet as the upgrade response: listen before 'open'.
        const challenge = await new Promise<ChallengeMsg>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no challenge within ${Defaults.helloTimeoutMs} ms`)), Defaults.helloTimeoutMs);
          ws.once('message', (data: Buffer) => {
            clearTimeout(t);
            try {
              resolve(readChallenge(data, url, auth.token !== null));
            } catch (err) {
              reject(err);
            }
          });
          ws.once('error', (err) => {
            clearTimeout(t);
            reject(err);
          });
          ws.once('close', () => {
            clearTimeout(t);
            reject(new Error('closed before the challenge'));
          });
        });
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        log.info({ url, attempts }, 'connected to coordinator');
        return new ControlClient(ws, url, log, challenge, auth, local);
      } catch (err) {
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        // With a token, a TLS mismatch at the port is as unproved as anything else said there (a
        // squatter can answer HTTP 426 too): retried until the deadline, then reported.
        const tlsError = err instanceof RingtrainError || err instanceof UnverifiedRefusal ? null : explainTlsError(url, err);
        const unproved = err instanceof UnverifiedRefusal ? err.refusal : auth.token !== null ? tlsError : null;
        if (unproved) {
          refusal = unproved;
          log.debug({ url, code: refusal.code, err: refusal.message }, 'unverified refusal at the coordinator\'s port; retrying');
        }
        const fatal = unproved ? null : err instanceof RingtrainError ? err : tlsError;
        if (fatal) {
          ws.terminate();
          throw fatal;
        }
        lastError = err instanceof Error ? err.message || (err as NodeJS.ErrnoException).code || 'error' : String(err);
        ws.terminate();
        const wait = Math.min(delay, deadline - Date.now());
        if (wait <= 0) break;
        log.debug({ url, attempts, lastError, retryInMs: wait }, 'coordinator not reachable yet, retrying');
        await sleep(wait);
        delay = Math.min(delay * 2, Defaults.connectBackoffMaxMs);
      }
    }
    if (refusal) throw new RingtrainError(refusal.code, `${refusal.message} (gave up after ${attempts} attempts in ${timeoutMs} ms)`);
    throw new RingtrainError(ErrorCodes.CONNECT_FAILED, `could not reach coordinator at ${url} after ${attempts} attempts in ${timeoutMs} ms (${lastError})`);
  }

  /** Queues a message; the promise resolves once it has been handed to the OS (or cannot be). */
  send(msg: WorkerWire): Promise<void> {
    // Held reports first, so the coordinator sees every message in the order it was made.
    this.flush();
    return new Promise((resolve) => this.write(msg, resolve));
  }

  private write(msg: WorkerWire, done?: () => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return done?.();
    this.ws.send(encodeMessage(msg), done && (() => done()));
  }

  /**
   * Holds a step report back, to leave with others in one `reports` message: once
   * reportBatchSteps are held or the first has waited reportHoldMs, before any other message, or
   * on flush (before this worker waits for the coordinator: worker/step-runner.ts). The coordinator
   * streams batches further ahead than reports are held back, so a rank does not starve meanwhile.
   */
  report(msg: StepDoneMsg): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.reports.add(msg);
  }

  /** Step reports held back right now (none once they have been handed to the socket). */
  get heldReports(): number {
    return this.reports.size;
  }

  /** Sends the held step reports now, as one message. */
  flush(): void {
    this.reports.flush();
  }

  close(): void {
    this.flush();
    clearTimeout(this.watchdog);
    clearTimeout(this.welcomeTimer);
    if (this.closing) return;
    this.closing = true;
    this.ws.close(1000, 'done');
  }
}
