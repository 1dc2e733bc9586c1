/**
 * One end of the links the internals bench (internals.ts) compares; a child process, so the two
 * ends run on their own event loops as two workers do.
 *
 * `--role receiver` listens twice: a RingServer (its links become PeerLinks, as a worker's
 * predecessor link) and a plain `ws` server (the public-API path: every transfer as `ws` messages).
 * Each link receives transfers of `--bytes` into a destination buffer in a KernelArena, as a
 * worker's fusion buffer: `--work copy` stores the bytes (an all-gather), `--work add` adds them as
 * float32 (a reduce-scatter). Once a transfer is in, it checks the values and answers with a small
 * ack on the same link. `--role sender` dials and times transfers on command.
 *
 * stdio (JSON lines). Receiver prints {"event":"listening","url","ws"}, then reads
 * {"cmd":"expect","gen","fixed"} (answers {"event":"linked","gen","fixedReads"}) and
 * {"cmd":"report"} (answers {"event":"cpu","cpu":{variant:[ms...]}}). Sender reads
 * {"cmd":"dial","gen"} / {"cmd":"dial-ws"} (answers {"event":"linked"}) and
 * {"cmd":"transfer","variant","count"} (answers {"event":"times","times"}).
 */
import { connect as netConnect } from 'node:net';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer, type AddressInfo } from 'ws';
import { RingServer } from '../dist/shared/transport/ring-server.js';
import { PeerLink } from '../dist/shared/transport/peer-link.js';
import { dialOnce, localEndpoint } from '../dist/shared/transport/ring-handshake.js';
import { Dtype, FrameKind, LinkKind, type FrameHeader } from '../dist/shared/protocol/codec.js';
import { KernelArena } from '../dist/shared/kernels/kernel-arena.js';
import { deriveRingKey } from '../dist/shared/protocol/auth.js';
import { Defaults } from '../dist/shared/base/constants.js';
import { createLogger } from '../dist/shared/base/logger.js';
import type { Route } from '../dist/shared/transport/ring-stream.js';
import { emit, stdinLines } from './lines.js';

const { values: flags } = parseArgs({
  options: {
    role: { type: 'string' },
    bytes: { type: 'string', default: String(16 << 20) },
    work: { type: 'string', default: 'copy' },
    transport: { type: 'string', default: 'local' },
  },
});
const bytes = Number(flags.bytes);
const values = bytes / 4;
const chunk = Math.min(Defaults.ringChunkBytes, bytes) / 4;
const log = createLogger('bench', 'warn');
/** Both ends derive the same ring key from a fixed bench secret (loopback only). */
const KEY = deriveRingKey('ringtrain-bench', Buffer.alloc(16), 1);
const fail = (err: unknown): never => {
  process.stderr.write(`internals bench ${flags.role}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
};

/** The ack a receiver sends once a transfer is in: one float32, 1 when the values were right. */
function ackHeader(gen: number, ok: boolean): { h: FrameHeader; payload: Uint8Array } {
  return { h: { kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: gen, seq: 0, offset: 0, count: 1 }, payload: bytesOf(Float32Array.of(ok ? 1 : 0)) };
}

const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function receiver(): Promise<void> {
  const local = flags.transport === 'local';
  const arena = KernelArena.create([values, Defaults.ringReadBufferBytes / 4]);
  if (!arena) throw new Error('no KernelArena on this machine');
  const dest = arena.alloc(values)!;
  const destBytes = new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength);
  const readBuffer = arena.allocBytes(Defaults.ringReadBufferBytes)!;
  const cpu: Record<string, number[]> = {};
  /** Tracks one transfer: CPU time from its first byte to its ack, and its values checked. */
  const transfer = (variant: string, ack: (ok: boolean) => void): ((n: number) => void) => {
    let got = 0;
    let iter = 0;
    let c0: NodeJS.CpuUsage | null = null;
    return (n) => {
      c0 ??= process.cpuUsage();
      if ((got += n) < bytes) return;
      iter++;
      // Copies hold the sender's value (its iteration number); sums that value added to zeros.
      const ok = dest[0] === iter && dest[values - 1] === iter && dest[values >> 1] === iter;
      const c = process.cpuUsage(c0);
      (cpu[variant] ??= []).push((c.user + c.system) / 1000);
      ack(ok);
      got = 0;
      c0 = null;
      // The next transfer cannot start before this ack: resetting here is outside the timing.
      dest.fill(0);
    };
  };
  const route = (h: FrameHeader): Route => {
    const base = h.offset * 4;
    if (flags.work === 'add') return { anyAlignment: true, piece: (b, at) => void arena.addBytes(dest, h.offset + at, b) };
    return { piece: (b, at) => destBytes.set(b, base + at * 4), bytesAt: (from, length) => destBytes.subarray(base + from, base + from + length) };
  };

  const server = await RingServer.listen('127.0.0.1', 0, log, { tls: null, token: null, insecure: false, local });
  const http: Server = createServer();
  const wsPath = `\0ringtrain-bench-${randomBytes(8).toString('hex')}`;
  await new Promise<void>((r) => (local ? http.listen(wsPath, r) : http.listen(0, '127.0.0.1', r)));
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: Defaults.ringMaxMessageBytes });
  wss.on('connection', (ws) => {
    let at = 0;
    const arrived = transfer('ws-messages', (ok) => ws.send(Float32Array.of(ok ? 1 : 0)));
    ws.on('message', (data: Buffer) => {
      if (flags.work === 'add') arena.addBytes(dest, at / 4, data);
      else destBytes.set(data, at);
      at = (at + data.length) % bytes;
      arrived(data.length);
    });
  });
  emit({ event: 'listening', url: server.urlFor('127.0.0.1'), ws: local ? wsPath : (http.address() as AddressInfo).port });
  const links: PeerLink[] = [];
  stdinLines((c) => {
    if (c['cmd'] === 'expect') {
      const gen = Number(c['gen']);
      const fixed = c['fixed'] === true;
      const variant = fixed ? 'peerlink-fixed' : 'peerlink-ordinary';
      server.awaitPredecessor(gen, 0, KEY, 30_000).then((l) => {
        const arrived = transfer(variant, (ok) => {
          const a = ackHeader(gen, ok);
          link.send(a.h, a.payload, () => undefined);
        });
        // As a worker's predecessor link (ring-collective.ts): reads into the arena, placing.
        const link: PeerLink = new PeerLink(l, variant, { route, end: (h) => arrived(h.count * 4) }, fail, undefined, fixed ? readBuffer : null, fixed);
        links.push(link);
        emit({ event: 'linked', gen, fixedReads: link.fixedReads });
      }, fail);
    } else if (c['cmd'] === 'report') emit({ event: 'cpu', cpu });
  });
}

async function sender(): Promise<void> {
  const payload = new Float32Array(values);
  const peers = new Map<string, (iter: number) => Promise<void>>();
  /** Resolves on the next ack; throws when the receiver found wrong values. */
  const acks = (): { wait: () => Promise<void>; got: (ok: boolean) => void } => {
    let waiter: ((ok: boolean) => void) | null = null;
    return {
      wait: () => new Promise<void>((resolve, reject) => (waiter = (ok) => (ok ? resolve() : reject(new Error('the receiver found wrong values'))))),
      got: (ok) => waiter?.(ok),
    };
  };
  stdinLines((c) => {
    const cmd = c['cmd'];
    if (cmd === 'dial') {
      const gen = Number(c['gen']);
      const url = String(c['url']);
      void dialOnce({ url, generation: gen, rank: 0, ringKey: KEY, tls: null, timeoutMs: 30_000, link: LinkKind.Ring, local: localEndpoint(url) }).then((l) => {
        const ack = acks();
        const link = new PeerLink(l, 'bench sender', { route: () => 'collect', end: (_h, _r, p) => ack.got(p!.readFloatLE(0) === 1) }, fail);
        peers.set(String(c['variant']), async () => {
          const done = ack.wait();
          for (let at = 0; at < values; at += chunk) {
            const n = Math.min(chunk, values - at);
            link.send({ kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: gen, seq: 0, offset: at, count: n }, bytesOf(payload.subarray(at, at + n)), (err) => err && fail(err));
          }
          await done;
        });
        emit({ event: 'linked' });
      }, fail);
    } else if (cmd === 'dial-ws') {
      const where = String(c['ws']);
      const unix = where.startsWith('\0');
      const ws = new WebSocket(unix ? 'ws://localhost/' : `ws://127.0.0.1:${where}`, {
        perMessageDeflate: false, generateMask: (m: Buffer) => void m.fill(0),
        ...(unix ? { createConnection: () => netConnect({ path: where }) } : {}),
      });
      const ack = acks();
      ws.on('message', (data: Buffer) => ack.got(data.readFloatLE(0) === 1));
      ws.once('error', fail);
      ws.once('open', () => {
        peers.set('ws-messages', async () => {
          const done = ack.wait();
          for (let at = 0; at < values; at += chunk) ws.send(payload.subarray(at, Math.min(values, at + chunk)));
          await done;
        });
        emit({ event: 'linked' });
      });
    } else if (cmd === 'transfer') {
      const run = peers.get(String(c['variant']))!;
      const count = Number(c['count']);
      const first = Number(c['first']);
      void (async () => {
        const times: number[] = [];
        for (let i = 0; i < count; i++) {
          payload.fill(first + i + 1);
          const t0 = performance.now();
          await run(first + i);
          times.push(performance.now() - t0);
        }
        emit({ event: 'times', times });
      })().catch(fail);
    } else if (cmd === 'exit') process.exit(0);
  });
}

if (flags.role === 'receiver') await receiver().catch(fail);
else if (flags.role === 'sender') await sender();
else fail('--role receiver|sender');
