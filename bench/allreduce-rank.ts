/**
 * One rank of the all-reduce bench (a child of allreduce.ts or scaling.ts). It runs the real
 * RingServer + RingCollective, so the figures are those of the training path. Protocol on stdio:
 * it prints {"event":"listening","port"}, reads one {"cmd":"run",...}, prints per size (rank 0
 * only) {"event":"result","bytes","times"} and finally {"event":"done"}.
 *
 * `--raw-ws sink|source` turns it into one end of a bare `ws` link instead, to measure what the
 * transport alone carries on this machine.
 */
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer, type AddressInfo } from 'ws';
import { RingServer } from '../dist/shared/transport/ring-server.js';
import { RingCollective } from '../dist/shared/collective/ring-collective.js';
import { createLogger } from '../dist/shared/base/logger.js';
import { allocator, KernelArena } from '../dist/shared/kernels/kernel-arena.js';
import { deriveRingKey } from '../dist/shared/protocol/auth.js';
import { Defaults } from '../dist/shared/base/constants.js';
import { emit, stdinLines } from './lines.js';

const { values: flags } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, 'raw-ws': { type: 'string' }, transport: { type: 'string', default: 'auto' } } });
const host = flags.host!;
const log = createLogger('bench', 'warn');
/**
 * Every ring link proves a per-generation key, as in training. The bench has no coordinator to
 * hand one out, so every rank derives the same key from a fixed bench secret (loopback or the
 * bench's own namespaces only).
 */
const BENCH_RING_KEY = deriveRingKey('ringtrain-bench', Buffer.alloc(16), 1);

interface RunCmd {
  rank: number;
  world: number;
  urls: string[];
  sizes: number[];
  iters: number;
  warmup: number;
  options: Record<string, unknown>;
  /** Also measure this process's CPU time per all-reduce (getrusage; off by default). */
  cpu?: boolean;
  /** Reduce into a plain array, not a KernelArena buffer as workers do (generation.ts). */
  plainBuffers?: boolean;
}

async function runRank(server: RingServer, cmd: RunCmd): Promise<RingCollective> {
  const { rank, world } = cmd;
  // As a worker's (generation.ts): the buffers and the predecessor link's read buffer in one arena.
  const arena = cmd.plainBuffers ? null : KernelArena.create([...cmd.sizes.map((b) => b / 4), Defaults.ringReadBufferBytes / 4]);
  const ring = await RingCollective.connect({
    server, generation: 1, rank, worldSize: world, successorUrl: cmd.urls[(rank + 1) % world]!, peerUrls: cmd.urls,
    connectTimeoutMs: 30_000, opTimeoutMs: 120_000, log, ringKey: BENCH_RING_KEY, arena, ...cmd.options,
  });
  const barrier = new Float32Array(1);
  for (const bytes of cmd.sizes) {
    const buf = allocator(arena)(bytes / 4);
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < cmd.warmup + cmd.iters; i++) {
      buf.fill(rank + 1);
      await ring.allreduceSum(barrier);
      const c0 = cmd.cpu ? process.cpuUsage() : null;
      const t0 = performance.now();
      await ring.allreduceSum(buf);
      const t = performance.now() - t0;
      if (i >= cmd.warmup) {
        times.push(t);
        if (c0) {
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        }
      }
    }
    // A bench that sums wrongly measures nothing: every element must be 1+2+...+N.
    const want = (world * (world + 1)) / 2;
    if (buf[0] !== want || buf[buf.length - 1] !== want) throw new Error(`rank ${rank}: wrong sum ${buf[0]} (want ${want}) at ${bytes} bytes`);
    if (rank === 0) emit({ event: 'result', bytes, times, cpu, transport: ring.successorLocal ? 'local' : 'tcp' });
  }
  await ring.allreduceSum(barrier);
  return ring;
}

async function rawSink(): Promise<void> {
  const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  emit({ event: 'listening', port: (wss.address() as AddressInfo).port });
  wss.on('connection', (ws) => {
    let want = 0;
    let got = 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        want = Number(data.toString());
        got = 0;
        return;
      }
      got += data.length;
      if (got >= want) ws.send('ok');
    });
  });
  stdinLines(() => {
    wss.close();
    process.exit(0);
  });
}

async function rawSource(url: string, bytes: number, iters: number, chunk: number): Promise<void> {
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (m: Buffer) => void m.fill(0) });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const payload = Buffer.alloc(chunk, 1);
  const times: number[] = [];
  for (let i = 0; i < iters + 1; i++) {
    ws.send(String(bytes));
    const done = new Promise<void>((r) => ws.once('message', () => r()));
    const t0 = performance.now();
    let inflight = 0;
    let wake: (() => void) | null = null;
    for (let sent = 0; sent < bytes; sent += chunk) {
      inflight++;
      ws.send(payload, (err) => {
        if (err) throw err;
        inflight--;
        wake?.();
      });
      // Respect back-pressure the way the ring does: a bounded number of chunks in flight.
      while (inflight > 8) await new Promise<void>((r) => (wake = r));
      wake = null;
    }
    await done;
    if (i > 0) times.push(performance.now() - t0);
  }
  emit({ event: 'result', bytes, times });
  ws.close();
}

const mode = flags['raw-ws'];
if (mode === 'sink') await rawSink();
else if (mode === 'source') {
  stdinLines((c) => void rawSource(String(c['url']), Number(c['bytes']), Number(c['iters']), Number(c['chunk'])).then(() => process.exit(0)));
} else {
  // --transport tcp: no local (Unix socket) endpoint, so peers on this host dial TCP too.
  const server = await RingServer.listen(host, 0, log, { tls: null, token: null, insecure: false, local: flags.transport !== 'tcp' });
  emit({ event: 'listening', port: server.port, url: server.urlFor(host) });
  let ring: RingCollective | null = null;
  stdinLines((c) => {
    // A rank closes its links only once every rank is done: a closed link is a failure to its peer.
    if (c['cmd'] === 'exit') {
      void ring?.close().then(() => server.close()).then(() => process.exit(0));
      return;
    }
    runRank(server, c as unknown as RunCmd).then(
      (r) => {
        ring = r;
        emit({ event: 'done' });
      },
      (err: unknown) => {
        process.stderr.write(`bench rank failed: ${err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
      },
    );
  });
}
