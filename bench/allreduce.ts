/**
 * `npm run bench:allreduce`: N rank processes on loopback run the real ring code; prints one JSON
 * line per (N, bytes) with the median time and algbw/busbw, plus one line for a bare `ws` link
 * measured in the same run. `--compare-gloo` runs PyTorch's Gloo on the same points (when
 * /usr/bin/python3 has torch) and prints the ratio ringtrain/Gloo per point.
 *
 *   --world 2,4,8  --bytes 65536,1048576,16777216,67108864  --iters 10  --warmup 3
 *   --algo auto|ring|rd  --compress none|fp16  --chunk-bytes N  --compare-gloo  --gloo-iters 10
 *   --cpu-prof DIR (V8 profile per rank)  --cpu (add rank 0's CPU time per all-reduce)
 *   --transport auto|tcp (tcp: ranks reach each other over loopback TCP only, as Gloo does;
 *   auto, as workers: over Unix sockets, see ring-server.ts)
 *   --plain-buffers (reduce into a plain Float32Array instead of a KernelArena buffer, as workers
 *   use: the JavaScript add loop instead of the SIMD kernel)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LineChild, bandwidth, emit, median, round } from './lines.js';

const here = dirname(fileURLToPath(import.meta.url));
const RANK = join(here, 'allreduce-rank.js');
const repoRoot = resolve(here, '..');
const GLOO = resolve(repoRoot, '..', 'shared', 'anchors', 'gloo_allreduce.py');
const PYTHON = '/usr/bin/python3';
const TIMEOUT_MS = 300_000;

const { values: f } = parseArgs({
  options: {
    world: { type: 'string', default: '2,4,8' },
    bytes: { type: 'string', default: '65536,1048576,16777216,67108864' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    algo: { type: 'string', default: 'auto' },
    compress: { type: 'string', default: 'none' },
    'chunk-bytes': { type: 'string' },
    'compare-gloo': { type: 'boolean', default: false },
    'gloo-iters': { type: 'string', default: '10' },
    'raw-bytes': { type: 'string', default: String(64 << 20) },
    'cpu-prof': { type: 'string' },
    cpu: { type: 'boolean', default: false },
    'plain-buffers': { type: 'boolean', default: false },
    transport: { type: 'string', default: 'auto' },
  },
});

function intList(s: string, what: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`--${what} must be a comma-separated list of positive integers (got ${s})`);
  return xs;
}
const worlds = intList(f.world!, 'world');
const sizes = intList(f.bytes!, 'bytes');
if (sizes.some((s) => s % 4 !== 0)) throw new Error('--bytes must be multiples of 4 (float32 elements)');
const iters = intList(f.iters!, 'iters')[0]!;
const warmup = Number(f.warmup);
const options: Record<string, unknown> = { algorithm: f.algo, compress: f.compress };
if (f['chunk-bytes']) options['chunkBytes'] = Number(f['chunk-bytes']);

/** Runs all sizes for one world size; returns rank 0's median time per size. */
async function benchWorld(world: number): Promise<Map<number, { t: number; cpu: number; transport: string }>> {
  // --cpu-prof DIR: each rank writes a V8 CPU profile there (open in Chrome DevTools).
  const prof = f['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', f['cpu-prof']] : [];
  const children = Array.from({ length: world }, () => new LineChild(process.execPath, [...prof, RANK, '--transport', f.transport!]));
  try {
    const urls = await Promise.all(children.map(async (c) => String((await c.next(30_000))['url'])));
    children.forEach((c, rank) => c.send({ cmd: 'run', rank, world, urls, sizes, iters, warmup, options, cpu: f.cpu, plainBuffers: f['plain-buffers'] }));
    const out = new Map<number, { t: number; cpu: number; transport: string }>();
    for (let i = 0; i < sizes.length; i++) {
      const r = await children[0]!.next(TIMEOUT_MS);
      const cpu = r['cpu'] as number[];
      out.set(Number(r['bytes']), { t: median(r['times'] as number[]), cpu: cpu.length > 0 ? median(cpu) : NaN, transport: String(r['transport']) });
    }
    await Promise.all(children.map((c) => c.next(TIMEOUT_MS)));
    children.forEach((c) => c.send({ cmd: 'exit' }));
    await Promise.all(children.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
    return out;
  } finally {
    children.forEach((c) => c.kill());
  }
}

async function rawWs(bytes: number): Promise<void> {
  const sink = new LineChild(process.execPath, [RANK, '--raw-ws', 'sink']);
  const source = new LineChild(process.execPath, [RANK, '--raw-ws', 'source']);
  try {
    const port = Number((await sink.next(30_000))['port']);
    source.send({ url: `ws://127.0.0.1:${port}`, bytes, iters: iters, chunk: 256 * 1024 });
    const r = await source.next(TIMEOUT_MS);
    const t = median(r['times'] as number[]);
    emit({ impl: 'ws-raw', link: 'single ws link, all-zero mask, 256 KiB messages', bytes, time_ms: round(t, 3), GBps: round(bytes / (t / 1000) / 1e9) });
    sink.send({ cmd: 'stop' });
  } finally {
    sink.kill();
    source.kill();
  }
}

function glooAvailable(): string | null {
  if (!existsSync(GLOO)) return `Gloo script not found at ${GLOO}`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0 ? null : `${PYTHON} cannot import torch (Debian: apt-get install -y python3-torch)`;
}

function gloo(world: number, bytes: number): { time_ms: number; busbw_GBps: number } | null {
  const r = spawnSync(PYTHON, [GLOO, '--world', String(world), '--bytes', String(bytes), '--iters', f['gloo-iters']!, '--port', String(29611 + world)], { encoding: 'utf8', timeout: TIMEOUT_MS });
  const line = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !line) {
    process.stderr.write(`gloo run (world ${world}, ${bytes} bytes) failed: ${r.stderr?.slice(-2000)}\n`);
    return null;
  }
  const j = JSON.parse(line) as { time_ms: number; busbw_GBps: number };
  emit(j);
  return j;
}

await rawWs(Number(f['raw-bytes']));
const glooWhyNot = f['compare-gloo'] ? glooAvailable() : null;
if (glooWhyNot) emit({ impl: 'gloo', skipped: glooWhyNot });
for (const world of worlds) {
  const times = await benchWorld(world);
  for (const bytes of sizes) {
    const { t, cpu, transport } = times.get(bytes)!;
    const { algbw, busbw } = bandwidth(world, bytes, t / 1000);
    // transport: how rank 0 reaches its successor ("local": Unix socket, "tcp": loopback TCP).
    emit({ impl: 'ringtrain', world, bytes, transport, time_ms: round(t, 3), algbw_GBps: round(algbw), busbw_GBps: round(busbw), ...(f.algo !== 'auto' ? { algo: f.algo } : {}), ...(f.compress !== 'none' ? { compress: f.compress } : {}), ...(f.cpu ? { rank0_cpu_ms: round(cpu, 2) } : {}) });
    if (f['compare-gloo'] && !glooWhyNot) {
      const g = gloo(world, bytes);
      if (g) emit({ compare: 'ringtrain/gloo', world, bytes, busbw_ratio: round(busbw / g.busbw_GBps, 3) });
    }
  }
}
