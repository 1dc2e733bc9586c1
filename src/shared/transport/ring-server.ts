/**
 * A worker's ring listener. Per generation it accepts exactly the links this rank asked for: the
 * ring predecessor, and the mesh partners of the small-message all-reduce that dial this rank.
 * Every connection is challenged with a fresh nonce and must answer with a hello proving this
 * generation's ring key for the expected rank and link kind (ring-handshake.ts). A hello that
 * arrives before this rank knows the generation is parked until it does (ranks start at slightly
 * different times). Everything after the handshake belongs to the RingCollective of that generation.
 *
 * Strangers cannot starve it: once a generation names its peers, sockets from other addresses
 * are refused at the upgrade; one source may hold at most maxPendingPerSource unauthenticated
 * sockets; and when a cap is reached the oldest unauthenticated socket of the busiest source is
 * closed to make room, so a flood of idle sockets delays an honest dial by a retry at most.
 * Refusals are logged once per source and interval.
 */
import { isIP, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { LinkKind } from '../protocol/codec.js';
import { randomBytes } from 'node:crypto';
import { newNonce } from '../protocol/auth.js';
import { listenWebSocket, type Listener } from './listen.js';
import { warnIfInsecure } from './exposure.js';
import type { TlsMaterial } from './tls.js';
import type { Logger } from '../base/logger.js';
import { AUTH_CLOSE_REASON, HANDSHAKE_MAX_BYTES, acceptFrame, challengeFrame, helloValid, parseHello, ringUrl, type RingHello } from './ring-handshake.js';
import { takeSocket } from './ws-takeover.js';
import type { RingLink } from './peer-link.js';
import { wsWrap } from './ring-frames.js';
import { RateLimitedLog, sourceOf } from '../base/rate-log.js';

interface Expectation {
  generation: number;
  rank: number;
  link: number;
  ringKey: Uint8Array;
  resolve: (link: RingLink) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A connection that has not completed the handshake. */
interface Candidate {
  ws: WebSocket;
  socket: Socket;
  remote: string;
  nonce: Buffer;
  hello: RingHello | null;
  timer: NodeJS.Timeout;
  onMessage: (data: Buffer, isBinary: boolean) => void;
}

export interface RingServerOptions {
  tls: TlsMaterial | null;
  token: string | null;
  insecure: boolean;
  /** Also accept peers of this network namespace over an abstract Unix socket (default true). */
  local?: boolean;
}

/** Identifies one expected link: generation, dialling rank and link kind. */
function keyOf(generation: number, rank: number, link: number): string {
  return `${generation}/${rank}/${link}`;
}

export class RingServer {
  private readonly expected = new Map<string, Expectation>();
  /** Highest generation this listener has been asked about: older hellos are settled. */
  private asked = 0;
  private readonly candidates = new Set<Candidate>();
  private listener!: Listener;
  /** Addresses this generation's peers dial from (null: not known yet, anyone may try). */
  private allowed: Set<string> | null = null;
  private readonly refusals = new RateLimitedLog(Defaults.refusalLogIntervalMs);

  private constructor(private readonly log: Logger) {}

  get port(): number {
    return this.listener.port;
  }

  /** URL scheme ring peers must use. */
  get scheme(): 'ws' | 'wss' {
    return this.listener.tls ? 'wss' : 'ws';
  }

  /** The abstract Unix socket this listener also accepts on, else null. */
  get localName(): string | null {
    return this.listener.local;
  }

  /**
   * The ring URL peers dial, for this listener reached at `host`: its TCP address, plus the
   * local (Unix socket) endpoint as `?local=` when there is one (see ring-handshake.ts).
   */
  urlFor(host: string): string {
    return ringUrl(this.scheme, host, this.port, this.localName);
  }

  /** Listens on host:port (0 = any free port). */
  static async listen(host: string, port: number, log: Logger, opts: RingServerOptions = { tls: null, token: null, insecure: false }): Promise<RingServer> {
    warnIfInsecure('ring listener', host, opts.token, opts.insecure, log);
    const server = new RingServer(log);
    server.listener = await listenWebSocket({
      host, port, tls: opts.tls, log, what: 'ring listener', bindErrorCode: ErrorCodes.RING_FAILED,
      // `ws` reads only the handshake: PeerLink takes the socket over once a hello is accepted.
      maxPayload: HANDSHAKE_MAX_BYTES,
      admit: (source) => server.admit(source),
      // Peers of this network namespace (local workers, one host's GPUs) skip TCP: a Unix socket
      // carries the same bytes for less CPU (a 16 MiB all-reduce at N=8 on a 2-core VM: 15.2 ms
      // per rank against 18.5 over loopback). Its name is random; the ring handshake
      // authenticates whoever connects, as on the TCP port.
      localName: opts.local === false ? null : `ringtrain-${randomBytes(12).toString('hex')}`,
      onConnection: (ws, req) => server.onConnection(ws, req.socket as Socket),
    });
    return server;
  }

  /**
   * The ring URLs of this generation's ranks: only their hosts (and this namespace's local
   * endpoint) may open sockets here until the next call. Null forgets the restriction.
   */
  expectPeers(urls: readonly string[] | null): void {
    this.allowed = null;
    if (!urls) return;
    const hosts = new Set<string>();
    for (const u of urls) {
      let host: string;
      try {
        host = new URL(u).hostname.replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
      } catch {
        return; // an address we cannot read: do not restrict rather than refuse a real peer
      }
      // A peer advertised by name (--advertise HOST) dials from an address we cannot know here.
      if (isIP(host) === 0) return;
      hosts.add(host);
    }
    this.allowed = hosts;
    for (const c of [...this.candidates]) if (!this.allows(c.remote)) this.refuse(c, ErrorCodes.AUTH_FAILED, 'not an address of this generation\'s peers');
  }

  private allows(source: string): boolean {
    return this.allowed === null || source === 'local' || this.allowed.has(source);
  }

  /** The upgrade-time decision (listen.ts): refuse strangers, make room under the caps. */
  private admit(source: string): boolean {
    if (!this.allows(source)) {
      this.logRefusal(source, ErrorCodes.AUTH_FAILED, 'not an address of this generation\'s peers');
      return false;
    }
    const from = (s: string): Candidate[] => [...this.candidates].filter((c) => c.remote === s);
    if (from(source).length >= Defaults.maxPendingPerSource) this.evictOldest(from(source));
    if (this.candidates.size >= Defaults.maxPendingConnections) {
      const counts = new Map<string, number>();
      for (const c of this.candidates) counts.set(c.remote, (counts.get(c.remote) ?? 0) + 1);
      const busiest = [...counts.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
      this.evictOldest(from(busiest));
    }
    return this.candidates.size < Defaults.maxPendingConnections && from(source).length < Defaults.maxPendingPerSource;
  }

  /** Closes the oldest of `cs` that has not said hello (else the oldest): room for a new socket. */
  private evictOldest(cs: Candidate[]): void {
    const victim = cs.find((c) => c.hello === null) ?? cs[0];
    if (victim) this.refuse(victim, ErrorCodes.BUSY, 'unauthenticated; closed to make room');
  }

  private logRefusal(source: string, code: RingtrainError['code'], reason: string): void {
    const r = this.refusals.admit(`${source}/${code}`);
    if (r.log) this.log.warn({ remote: source, code, reason, heldBack: r.held }, 'refused ring connection');
  }

  /** Resolves with the predecessor's link once it has proved `ringKey` for this generation and rank. */
  awaitPredecessor(generation: number, rank: number, ringKey: Uint8Array, timeoutMs: number): Promise<RingLink> {
    return this.awaitLinks(generation, ringKey, timeoutMs, [{ rank, link: LinkKind.Ring }])[0]!;
  }

  /**
   * One promise per wanted link: the socket `rank` opened to this rank for `link` in `generation`,
   * once it has proved `ringKey`. All of a generation's links are asked for in one call, so a hello
   * of that generation matching none of them can be refused at once. Asking about a newer
   * generation abandons every expectation of older ones.
   */
  awaitLinks(generation: number, ringKey: Uint8Array, timeoutMs: number, wants: readonly { rank: number; link: number }[]): Promise<RingLink>[] {
    for (const e of [...this.expected.values()]) {
      if (e.generation <= generation) this.abandon(e, e.generation < generation ? 'superseded by a newer generation' : 'asked for again');
    }
    this.asked = Math.max(this.asked, generation);
    const out = wants.map(({ rank, link }) => {
      const key = keyOf(generation, rank, link);
      return new Promise<RingLink>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.expected.delete(key);
          reject(new RingtrainError(ErrorCodes.TIMEOUT, `ring peer rank ${rank} (generation ${generation}, ${link === LinkKind.Ring ? 'predecessor' : 'mesh link'}) did not connect within ${timeoutMs} ms`));
        }, timeoutMs);
        this.expected.set(key, { generation, rank, link, ringKey, resolve, reject, timer });
      });
    });
    for (const c of [...this.candidates]) if (c.hello) this.decide(c);
    return out;
  }

  private abandon(e: Expectation, why: string): void {
    this.expected.delete(keyOf(e.generation, e.rank, e.link));
    clearTimeout(e.timer);
    e.reject(new RingtrainError(ErrorCodes.ABORTED, why));
  }

  private onConnection(ws: WebSocket, socket: Socket): void {
    let strikes = 0;
    const remote = sourceOf(socket.remoteAddress);
    const c: Candidate = {
      ws, socket, remote, nonce: newNonce(), hello: null,
      timer: setTimeout(() => this.refuse(c, ErrorCodes.TIMEOUT, 'no valid ring hello in time'), Defaults.helloTimeoutMs),
      onMessage: (data, isBinary) => {
        if (c.hello) return;
        try {
          c.hello = parseHello(data, isBinary);
        } catch (err) {
          if (this.refusals.admit(`${remote}/frame`).log) this.log.warn({ remote, code: ErrorCodes.BAD_FRAME, err: err instanceof Error ? err.message : String(err) }, 'bad frame before ring hello dropped');
          if (++strikes >= Defaults.maxBadMessagesBeforeAuth) this.refuse(c, ErrorCodes.BAD_FRAME, `${strikes} bad frames before hello`);
          return;
        }
        this.decide(c);
      },
    };
    this.candidates.add(c);
    ws.on('message', c.onMessage);
    ws.on('close', () => this.drop(c));
    ws.on('error', (err) => this.log.debug({ remote, err: err.message }, 'ring connection error before hello'));
    ws.send(challengeFrame(c.nonce));
  }

  /** Accepts, refuses or parks a candidate whose hello has arrived. */
  private decide(c: Candidate): void {
    const h = c.hello!;
    const key = keyOf(h.generation, h.rank, h.link);
    const exp = this.expected.get(key);
    if (!exp) {
      // Its generation may not have reached this rank yet; one this rank has asked about is settled.
      if (h.generation <= this.asked) this.refuse(c, ErrorCodes.AUTH_FAILED, `hello claiming rank ${h.rank} link ${h.link} generation ${h.generation}, which this rank does not expect (newest generation here: ${this.asked})`);
      return;
    }
    if (!helloValid(exp.ringKey, c.nonce, h)) {
      this.refuse(c, ErrorCodes.AUTH_FAILED, `hello claiming rank ${h.rank} link ${h.link} generation ${h.generation} failed authentication`);
      return;
    }
    this.drop(c);
    clearTimeout(exp.timer);
    this.expected.delete(key);
    // Take the socket before the accept goes out: an honest dialler sends nothing between its
    // hello and our accept, so everything after the accept reaches PeerLink, none of it `ws`.
    let socket: Socket;
    try {
      socket = takeSocket(c.ws, c.socket);
    } catch (err) {
      c.ws.terminate();
      exp.reject(err as Error);
      return;
    }
    socket.write(wsWrap(acceptFrame(exp.ringKey, h), false));
    exp.resolve({ socket, dialler: false });
  }

  private refuse(c: Candidate, code: RingtrainError['code'], reason: string): void {
    this.logRefusal(c.remote, code, reason);
    this.drop(c);
    c.ws.close(1008, code === ErrorCodes.AUTH_FAILED ? AUTH_CLOSE_REASON : code);
  }

  private drop(c: Candidate): void {
    if (!this.candidates.delete(c)) return;
    clearTimeout(c.timer);
    c.ws.off('message', c.onMessage);
  }

  close(): Promise<void> {
    for (const e of [...this.expected.values()]) this.abandon(e, 'ring server closed');
    for (const c of [...this.candidates]) this.drop(c);
    return this.listener.close();
  }
}
