/**
 * `npm run bench:scaling`: the ring on a shaped network. Each rank runs in its own network
 * namespace, joined by veth pairs to a bridge, every link shaped with tbf to --rate (1 Gbit/s);
 * the bench (as coordinator) talks to the ranks over stdio only. Prints for each N the median
 * all-reduce time of --bytes, the bandwidth bound 2(N-1)/N·S/B and their ratio. Needs root and
 * `ip netns`; otherwise prints one line saying why it skipped. Everything is removed at the end,
 * also on failure or interruption.
 *
 *   --world 2,4  --bytes 16777216  --rate-gbit 1  --iters 5  --warmup 2  --mtu 1500  --algo auto|ring|hd|rd  --chunk-bytes N
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LineChild, emit, median, round } from './lines.js';
import { ShapedNet, netnsUnavailable } from './netns.js';

const RANK = join(dirname(fileURLToPath(import.meta.url)), 'allreduce-rank.js');
const { values: f } = parseArgs({
  options: {
    world: { type: 'string', default: '2,4' },
    bytes: { type: 'string', default: String(16 << 20) },
    'rate-gbit': { type: 'string', default: '1' },
    iters: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    mtu: { type: 'string', default: '1500' },
    algo: { type: 'string', default: 'auto' },
    'chunk-bytes': { type: 'string' },
  },
});
const worlds = f.world!.split(',').map(Number);
const bytes = Number(f.bytes);
const gbit = Number(f['rate-gbit']);
const TIMEOUT_MS = 300_000;

const why = netnsUnavailable();
if (why) {
  emit({ bench: 'scaling', skipped: true, reason: why });
  process.exit(0);
}

let net: ShapedNet | null = null;
const cleanup = (): void => net?.destroy();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    cleanup();
    process.exit(130);
  });
}

try {
  for (const world of worlds) {
    net = ShapedNet.create(world, `${gbit}gbit`, Number(f.mtu));
    const ranks = net.namespaces.slice(1);
    const children = ranks.map((ns, i) => new LineChild('ip', ['netns', 'exec', ns, process.execPath, RANK, '--host', ShapedNet.address(i)]));
    try {
      // Each rank advertises its local endpoint too, as workers do: from its own network
      // namespace no peer can reach it, so every link must fall back to the shaped TCP path.
      const urls = await Promise.all(children.map(async (c) => String((await c.next(30_000))['url'])));
      children.forEach((c, rank) => c.send({ cmd: 'run', rank, world, urls, sizes: [bytes], iters: Number(f.iters), warmup: Number(f.warmup), options: { algorithm: f.algo, ...(f['chunk-bytes'] ? { chunkBytes: Number(f['chunk-bytes']) } : {}) } }));
      const r = await children[0]!.next(TIMEOUT_MS);
      if (r['transport'] !== 'tcp') throw new Error(`scaling: rank 0 reached its successor over ${String(r['transport'])}, not the shaped link`);
      await Promise.all(children.map((c) => c.next(TIMEOUT_MS)));
      children.forEach((c) => c.send({ cmd: 'exit' }));
      const t = median(r['times'] as number[]);
      const boundMs = ((2 * (world - 1)) / world) * (bytes / ((gbit * 1e9) / 8)) * 1000;
      emit({ bench: 'scaling', world, bytes, link_gbit: gbit, mtu: Number(f.mtu), ...(f.algo !== 'auto' ? { algo: f.algo } : {}), time_ms: round(t, 2), bound_ms: round(boundMs, 2), ratio: round(t / boundMs, 3) });
    } finally {
      children.forEach((c) => c.kill());
      await new Promise((r) => setTimeout(r, 200));
      cleanup();
      net = null;
    }
  }
} finally {
  cleanup();
}
