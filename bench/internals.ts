/**
 * `npm run bench:internals`: what each reach into another library's private internals still buys,
 * measured side by side with the public-API path in one run (rounds alternate, so load from
 * elsewhere falls on both sides alike). One JSON line per internal, with both times and the ratio
 * public/internal (above 1: the internal is faster).
 *
 * - Node `_handle` moved onto a socket that reads into the caller's buffers (fixed-read.ts),
 *   against the link's ordinary socket: a PeerLink receiving transfers, as a worker's predecessor.
 * - ws's own `data` listener taken off the socket after the ring handshake (ws-takeover.ts), so
 *   PeerLink speaks the framing itself, against sending the same bytes as `ws` messages.
 * - tfjs-wasm copying a tensor's values into its heap when it is made, which would let setWeights
 *   hand it views, against the copies setWeights hands every engine; with one training step's
 *   time for scale (views are not used: they save under 1% of a step).
 * - tfjs-wasm's private `dataIdMap`/`HEAPF32`, to copy gradients straight out of the engine's heap,
 *   against data(), which the trainer uses (not used either; measured here only).
 *
 *   --bytes 16777216  --work copy|add  --transport local|tcp  --rounds 6  --per-round 5  --warmup 3
 *   --job mnist-mlp  --batch-size 32  --calls 200
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from '../dist/shared/engine/backend.js';
import { Trainer } from '../dist/shared/engine/trainer.js';
import { loadJob } from '../dist/jobs/registry.js';
import { inputSize } from '../dist/shared/job/job.js';
import { createLogger } from '../dist/shared/base/logger.js';
import type { Tfjs } from '../dist/shared/job/job.js';
import { LineChild, emit, median, round, v1Job } from './lines.js';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'internals-peer.js');
const TIMEOUT_MS = 120_000;
const { values: f } = parseArgs({
  options: {
    bytes: { type: 'string', default: String(16 << 20) },
    work: { type: 'string', default: 'copy' },
    transport: { type: 'string', default: 'local' },
    rounds: { type: 'string', default: '6' },
    'per-round': { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    job: { type: 'string', default: 'mnist-mlp' },
    'batch-size': { type: 'string', default: '32' },
    calls: { type: 'string', default: '200' },
  },
});
const bytes = Number(f.bytes);
const rounds = Number(f.rounds);
const perRound = Number(f['per-round']);
const warmup = Number(f.warmup);

/** Times each link variant over the same transfers; medians in ms, and receiver CPU ms. */
async function links(): Promise<Record<string, { ms: number; cpu: number; fixedReads?: boolean }>> {
  const args = ['--bytes', String(bytes), '--work', f.work!, '--transport', f.transport!];
  const receiver = new LineChild(process.execPath, [PEER, '--role', 'receiver', ...args]);
  const sender = new LineChild(process.execPath, [PEER, '--role', 'sender', ...args]);
  try {
    const at = await receiver.next(30_000);
    const fixedReads: Record<string, boolean> = {};
    const variants = ['peerlink-ordinary', 'peerlink-fixed'];
    for (const [i, variant] of variants.entries()) {
      receiver.send({ cmd: 'expect', gen: i + 1, fixed: variant === 'peerlink-fixed' });
      sender.send({ cmd: 'dial', gen: i + 1, url: at['url'], variant });
      fixedReads[variant] = (await receiver.next(30_000))['fixedReads'] === true;
      await sender.next(30_000);
    }
    sender.send({ cmd: 'dial-ws', ws: at['ws'] });
    await sender.next(30_000);
    variants.push('ws-messages');
    const done = new Map<string, number>();
    const times = new Map<string, number[]>();
    const transfer = async (variant: string, count: number): Promise<number[]> => {
      sender.send({ cmd: 'transfer', variant, count, first: done.get(variant) ?? 0 });
      done.set(variant, (done.get(variant) ?? 0) + count);
      return (await sender.next(TIMEOUT_MS))['times'] as number[];
    };
    for (const v of variants) await transfer(v, warmup);
    for (let r = 0; r < rounds; r++) {
      // Each round in another order, so no variant always follows the same one.
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) times.set(v, [...(times.get(v) ?? []), ...(await transfer(v, perRound))]);
    }
    receiver.send({ cmd: 'report' });
    const cpu = (await receiver.next(30_000))['cpu'] as Record<string, number[]>;
    sender.send({ cmd: 'exit' });
    const out: Record<string, { ms: number; cpu: number; fixedReads?: boolean }> = {};
    for (const v of variants) out[v] = { ms: median(times.get(v)!), cpu: median(cpu[v]!.slice(warmup)), ...(v in fixedReads ? { fixedReads: fixedReads[v] } : {}) };
    return out;
  } finally {
    receiver.kill();
    sender.kill();
  }
}

/** setWeights on wasm: views against copies, alternating; and one training step for scale. */
async function wasmViews(): Promise<{ view: number; copy: number; step: number; params: number; data: number; heap: number }> {
  const log = createLogger('bench', 'warn');
  const engine = await selectEngine('wasm', log);
  const tf = engine.tf;
  const job = v1Job(await loadJob(f.job!));
  const trainer = Trainer.create(tf, job, 42);
  const vars = trainer.model.trainableWeights.map((w) => w.read() as TF.Variable);
  const flat = trainer.getWeights();
  const load = (copy: boolean): number => {
    const t0 = performance.now();
    tf.tidy(() => {
      vars.forEach((v, i) => {
        const p = trainer.params[i]!;
        const view = flat.subarray(p.offset, p.offset + p.size);
        v.assign(tf.tensor(copy ? view.slice() : view, p.shape, 'float32'));
      });
    });
    return performance.now() - t0;
  };
  const view: number[] = [];
  const copy: number[] = [];
  const calls = Number(f.calls);
  for (let i = 0; i < calls + 20; i++) {
    for (const c of i % 2 === 0 ? [false, true] : [true, false]) {
      const t = load(c);
      if (i >= 20) (c ? copy : view).push(t);
    }
  }
  const batch = Number(f['batch-size']);
  const x = new Float32Array(batch * inputSize(job)).map((_, i) => (i % 7) / 7);
  const y = new Float32Array(batch * job.outputSize).map((_, i) => (i % job.outputSize === 0 ? 1 : 0));
  const grads = new Float32Array(trainer.paramCount);
  const steps: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    await trainer.computeGradients(x, y, batch, grads);
    load(true);
    if (i >= 10) steps.push(performance.now() - t0);
  }
  const reads = await heapReads(tf, trainer, vars, x, y, batch, calls);
  trainer.dispose();
  return { view: median(view), copy: median(copy), step: median(steps), params: trainer.paramCount, ...reads };
}

/** The wasm engine's private tables, read only here, to measure the read-back they would allow. */
interface WasmInternals {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  wasm: { HEAPF32: Float32Array };
}

/**
 * Gradient read-back on wasm: through data() (what the trainer does) against copying straight out
 * of the engine's heap through its private tables, alternating; the two must give the same bits.
 */
async function heapReads(tf: Tfjs, trainer: Trainer, vars: TF.Variable[], x: Float32Array, y: Float32Array, batch: number, calls: number): Promise<{ data: number; heap: number }> {
  const job = v1Job(trainer.job);
  const xs = tf.tensor(x, [batch, ...job.inputShape], 'float32');
  const ys = tf.tensor(y, [batch, job.outputSize], 'float32');
  const { value, grads } = tf.variableGrads(() => tf.sum(job.loss(tf, ys, trainer.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, vars);
  const list = vars.map((v) => grads[v.name]!);
  const b = tf.backend() as unknown as WasmInternals;
  const viaData = new Float32Array(trainer.paramCount);
  const viaHeap = new Float32Array(trainer.paramCount);
  const byData = async (): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(list.map(async (g, i) => viaData.set((await g.data()) as Float32Array, trainer.params[i]!.offset)));
    return performance.now() - t0;
  };
  const byHeap = (): number => {
    const t0 = performance.now();
    const heap = b.wasm.HEAPF32;
    list.forEach((g, i) => {
      const at = b.dataIdMap.get(g.dataId).memoryOffset / 4;
      viaHeap.set(heap.subarray(at, at + g.size), trainer.params[i]!.offset);
    });
    return performance.now() - t0;
  };
  const data: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < calls + 20; i++) {
    let d: number;
    let h: number;
    if (i % 2 === 0) [d, h] = [await byData(), byHeap()];
    else [h, d] = [byHeap(), await byData()];
    if (i >= 20) (data.push(d), heap.push(h));
  }
  if (Buffer.compare(Buffer.from(viaData.buffer), Buffer.from(viaHeap.buffer)) !== 0) throw new Error('the wasm heap read gave other values than data()');
  tf.dispose([xs, ys, value, ...list]);
  return { data: median(data), heap: median(heap) };
}

const l = await links();
const base = { bench: 'internals', bytes, transport: f.transport, work: f.work };
const fixed = l['peerlink-fixed']!;
const ordinary = l['peerlink-ordinary']!;
const ws = l['ws-messages']!;
emit({
  ...base, internal: 'node socket _handle moved to an onread socket (fixed-read.ts)', fixedReads: fixed.fixedReads,
  internal_ms: round(fixed.ms, 3), public_ms: round(ordinary.ms, 3), ratio: round(ordinary.ms / fixed.ms, 3),
  internal_rx_cpu_ms: round(fixed.cpu, 3), public_rx_cpu_ms: round(ordinary.cpu, 3), cpu_ratio: round(ordinary.cpu / fixed.cpu, 3),
});
emit({
  ...base, internal: 'ws data listener taken off the socket, PeerLink framing (ws-takeover.ts)',
  internal_ms: round(ordinary.ms, 3), public_ms: round(ws.ms, 3), ratio: round(ws.ms / ordinary.ms, 3),
  internal_rx_cpu_ms: round(ordinary.cpu, 3), public_rx_cpu_ms: round(ws.cpu, 3), cpu_ratio: round(ws.cpu / ordinary.cpu, 3),
  both_internals_ratio: round(ws.ms / fixed.ms, 3),
});
const w = await wasmViews();
emit({
  bench: 'internals', internal: 'tfjs-wasm copies typed arrays on tensor creation: setWeights views instead of copies (not used)', job: f.job, params: w.params,
  internal_ms: round(w.view, 4), public_ms: round(w.copy, 4), ratio: round(w.copy / w.view, 3),
  step_ms: round(w.step, 3), share_of_step: round((w.copy - w.view) / w.step, 4),
});
emit({
  bench: 'internals', internal: 'tfjs-wasm dataIdMap/HEAPF32: gradients copied out of the engine heap instead of data() (not used)', job: f.job, params: w.params,
  internal_ms: round(w.heap, 4), public_ms: round(w.data, 4), ratio: round(w.data / w.heap, 3),
  step_ms: round(w.step, 3), share_of_step: round((w.data - w.heap) / w.step, 4),
});
process.exit(0);
