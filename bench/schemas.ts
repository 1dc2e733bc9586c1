/**
 * Validation speed of the step hot path's messages, per schema library, side by side in one run:
 * a `reports` batch of four step reports, a batch head carrying 32 indices, and `go`. Each
 * candidate first has to agree on which samples are well formed (a faster checker that accepts
 * more proves nothing); then rounds interleave the candidates so machine load hits all alike.
 * `ringtrain` is the protocol's own parseMessage (dist/), the path the processes run.
 *
 * Prints one JSON line per candidate and message: median ns per validation and the ratio to the
 * fastest candidate for that message. Usage: npm run bench:schemas [-- --rounds 15]
 */
import { parseArgs } from 'node:util';
import { decodeRaw, encodeMessage } from '../dist/shared/protocol/codec.js';
import { parseMessage, type Message } from '../dist/shared/protocol/protocol.js';
import { candidates, type Check, type Hot } from './schema-candidates.js';
import { median, round } from './lines.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, iterations: { type: 'string', default: '20000' } } });
const ROUNDS = Number(values.rounds);
const ITERATIONS = Number(values.iterations);

const report = (step: number): Record<string, unknown> => ({
  type: 'step-done', generation: 3, step, loss: 0.25 + step, samples: 128, checksum: null, skipped: false,
  timings: { waitMs: 0.1, computeMs: 4.2, allreduceMs: 0.8, updateMs: 0.3, commMs: 1.9 },
});
/** Decoded from msgpack, as the edge sees them (typed arrays as the decoder builds them). */
const wire = (m: Record<string, unknown>): unknown => decodeRaw(encodeMessage(m as unknown as Message));
const samples: Record<Hot, unknown> = {
  reports: wire({ type: 'reports', reports: [report(10), report(11), report(12), report(13)] }),
  batch: wire({ type: 'batch', generation: 3, step: 10, epoch: 0, count: 32, nextEpoch: 0, nextCursor: 64, checksum: false, sendState: false, indices: Uint32Array.from({ length: 32 }, (_, i) => i * 7) }),
  go: wire({ type: 'go', generation: 3 }),
};
const batch = samples.batch as Record<string, unknown>;
const reports = samples.reports as { reports: Record<string, unknown>[] };
const withReport = (r: Record<string, unknown>): unknown => ({ type: 'reports', reports: [reports.reports[0], r] });
/** Malformed variants every candidate must refuse. */
const bad: Record<Hot, unknown[]> = {
  reports: [
    withReport({ ...report(1), step: -1 }), withReport({ ...report(1), loss: 'x' }), withReport({ ...report(1), extra: 1 }),
    withReport({ ...report(1), timings: { ...(report(1)['timings'] as object), waitMs: Infinity } }), withReport({ ...report(1), checksum: 'c'.repeat(5000) }),
    { type: 'reports', reports: [] }, { type: 'reports', reports: 'no' },
  ],
  batch: [
    { ...batch, indices: new Uint32Array(31) }, { ...batch, indices: new Float32Array(32) }, { ...batch, count: 1.5 },
    { ...batch, sendState: 1 }, { ...batch, nextCursor: 2 ** 60 },
  ],
  go: [{ type: 'go', generation: -1 }, { type: 'go' }, { type: 'go', generation: 1, more: true }],
};

/** The protocol's own parser as a check (it throws on malformed input). */
const ringtrain: Check = (raw) => {
  try {
    parseMessage(raw);
    return true;
  } catch {
    return false;
  }
};
const all: Record<string, Record<Hot, Check>> = { ringtrain: { reports: ringtrain, batch: ringtrain, go: ringtrain }, ...candidates() };
const hots: Hot[] = ['reports', 'batch', 'go'];

for (const [lib, checks] of Object.entries(all)) {
  for (const hot of hots) {
    if (!checks[hot](samples[hot])) throw new Error(`${lib} refuses the well-formed ${hot} sample`);
    const accepted = bad[hot].findIndex((b) => checks[hot](b));
    if (accepted >= 0) throw new Error(`${lib} accepts malformed ${hot} sample #${accepted}`);
  }
}

const times = new Map<string, number[]>();
let sink = 0;
for (let round_ = 0; round_ < ROUNDS; round_++) {
  for (const [lib, checks] of Object.entries(all)) {
    for (const hot of hots) {
      const check = checks[hot];
      const sample = samples[hot];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < ITERATIONS; i++) if (check(sample)) sink++;
      const ns = Number(process.hrtime.bigint() - t0) / ITERATIONS;
      // The first round warms the JIT up and is not counted.
      if (round_ > 0) times.set(`${lib}\t${hot}`, [...(times.get(`${lib}\t${hot}`) ?? []), ns]);
    }
  }
}
if (sink === 0) throw new Error('nothing validated');

for (const hot of hots) {
  const rows = Object.keys(all).map((lib) => ({ lib, ns: median(times.get(`${lib}\t${hot}`)!) }));
  const fastest = Math.min(...rows.map((r) => r.ns));
  for (const r of rows) {
    console.log(JSON.stringify({ bench: 'schemas', message: hot, lib: r.lib, nsPerValidation: round(r.ns, 1), vsFastest: round(r.ns / fastest, 2), rounds: ROUNDS - 1, iterations: ITERATIONS }));
  }
}
