/**
 * The worker's link to the coordinator. Connecting retries with exponential backoff up to a
 * deadline (the coordinator may start after its workers), then fails naming the address. Incoming
 * messages are validated and queued; malformed ones are logged and dropped.
 */
import { WebSocket } from 'ws';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { decodeMessage, encodeMessage } from '../shared/codec.js';
import { Mailbox } from '../shared/mailbox.js';
import type { CoordinatorToWorker, WorkerToCoordinator } from '../shared/protocol.js';
import type { Logger } from '../shared/logger.js';

const FROM_COORDINATOR = new Set(['start', 'go', 'batch', 'pause', 'finish', 'error']);

function isFromCoordinator(m: { type: string }): m is CoordinatorToWorker {
  return FROM_COORDINATOR.has(m.type);
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

  private constructor(private readonly ws: WebSocket, readonly url: string, private readonly log: Logger) {
    // The coordinator pings every few seconds; silence means it is gone even if TCP has not said so.
    const silence = (): NodeJS.Timeout =>
      setTimeout(() => {
        this.log.warn({ url, silenceMs: Defaults.coordinatorSilenceMs }, 'no heartbeat from coordinator; dropping the connection');
        ws.terminate();
      }, Defaults.coordinatorSilenceMs);
    this.watchdog = silence();
    ws.on('ping', () => {
      clearTimeout(this.watchdog);
      this.watchdog = silence();
    });
    ws.on('message', (data: Buffer) => {
      try {
        const msg = decodeMessage(data);
        if (!isFromCoordinator(msg)) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `a worker does not accept ${msg.type} messages`);
        this.onMessage?.(msg);
        this.inbox.push(msg);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'dropped bad message from coordinator');
      }
    });
    ws.on('close', (code, reason) => {
      clearTimeout(this.watchdog);
      this.inbox.close(new RingtrainError(ErrorCodes.COORDINATOR_LOST, `connection to coordinator ${url} closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    });
    ws.on('error', (err) => this.log.warn({ err: err.message }, 'coordinator connection error'));
  }

  /** The local address of this connection: the address the coordinator can reach us at. */
  get localAddress(): string {
    const a = (this.ws as unknown as { _socket?: { localAddress?: string } })._socket?.localAddress;
    return a ? a.replace(/^::ffff:/, '') : '127.0.0.1';
  }

  static async connect(url: string, timeoutMs: number, log: Logger): Promise<ControlClient> {
    const deadline = Date.now() + timeoutMs;
    let delay: number = Defaults.connectBackoffMs;
    let attempts = 0;
    let lastError = 'no attempt made';
    while (attempts === 0 || Date.now() < deadline) {
      attempts++;
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: Defaults.maxControlPayloadBytes,
        handshakeTimeout: Math.max(1, Math.min(10_000, deadline - Date.now())),
      });
      try {
        await new Promise<void>((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        ws.removeAllListeners('error');
        log.info({ url, attempts }, 'connected to coordinator');
        return new ControlClient(ws, url, log);
      } catch (err) {
        lastError = err instanceof Error ? err.message || (err as NodeJS.ErrnoException).code || 'error' : String(err);
        ws.terminate();
        const wait = Math.min(delay, deadline - Date.now());
        if (wait <= 0) break;
        log.debug({ url, attempts, lastError, retryInMs: wait }, 'coordinator not reachable yet, retrying');
        await sleep(wait);
        delay = Math.min(delay * 2, Defaults.connectBackoffMaxMs);
      }
    }
    throw new RingtrainError(ErrorCodes.CONNECT_FAILED, `could not reach coordinator at ${url} after ${attempts} attempts in ${timeoutMs} ms (${lastError})`);
  }

  /** Queues a message; the promise resolves once it has been handed to the OS (or cannot be). */
  send(msg: WorkerToCoordinator): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== WebSocket.OPEN) return resolve();
      this.ws.send(encodeMessage(msg), () => resolve());
    });
  }

  close(): void {
    clearTimeout(this.watchdog);
    if (this.closing) return;
    this.closing = true;
    this.ws.close(1000, 'done');
  }
}
