/** Builds real rings on loopback (port 0) inside the test process. */
import { pino } from 'pino';
import { RingServer } from '../../src/worker/ring-server.js';
import { RingCollective } from '../../src/worker/ring-collective.js';
import { SoloCollective, type Collective } from '../../src/worker/collective.js';

export const silent = pino({ level: 'silent' });

export interface TestRing {
  ranks: Collective[];
  close(): Promise<void>;
}

/** A fixed test ring key: production keys derive from the token and a per-generation salt. */
export const TEST_RING_KEY = Buffer.alloc(32, 7);

export async function createRing(worldSize: number, opts: { chunkBytes?: number; generation?: number } = {}): Promise<TestRing> {
  if (worldSize === 1) return { ranks: [new SoloCollective()], close: async () => undefined };
  const servers = await Promise.all(Array.from({ length: worldSize }, () => RingServer.listen('127.0.0.1', 0, silent)));
  const generation = opts.generation ?? 1;
  const ranks = await Promise.all(
    servers.map((server, rank) =>
      RingCollective.connect({
        server, generation, rank, worldSize, successorUrl: `ws://127.0.0.1:${servers[(rank + 1) % worldSize]!.port}`,
        connectTimeoutMs: 10_000, opTimeoutMs: 30_000, chunkBytes: opts.chunkBytes, log: silent, ringKey: TEST_RING_KEY,
      }),
    ),
  );
  return {
    ranks,
    async close() {
      await Promise.all(ranks.map((r) => r.close()));
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
