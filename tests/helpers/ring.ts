/** Builds real rings on loopback (port 0) inside the test process. */
import { pino } from 'pino';
import { RingServer } from '../../src/shared/transport/ring-server.js';
import { RingCollective } from '../../src/shared/collective/ring-collective.js';
import { SoloCollective, type Collective } from '../../src/shared/collective/collective.js';

export const silent = pino({ level: 'silent' });

export interface TestRing {
  ranks: Collective[];
  close(): Promise<void>;
}

/** A fixed test ring key: production keys derive from the token and a per-generation salt. */
export const TEST_RING_KEY = Buffer.alloc(32, 7);

/**
 * A ring of `worldSize` ranks; `transport` 'local' links them over their listeners' Unix sockets
 * (as workers on one host are), 'tcp' (default) over loopback TCP.
 */
export async function createRing(worldSize: number, opts: { chunkBytes?: number; generation?: number; transport?: 'local' | 'tcp' } = {}): Promise<TestRing> {
  if (worldSize === 1) return { ranks: [new SoloCollective()], close: async () => undefined };
  const local = opts.transport === 'local';
  const servers = await Promise.all(Array.from({ length: worldSize }, () => RingServer.listen('127.0.0.1', 0, silent, { tls: null, token: null, insecure: false, local })));
  const generation = opts.generation ?? 1;
  const ranks = await Promise.all(
    servers.map((server, rank) =>
      RingCollective.connect({
        server, generation, rank, worldSize, successorUrl: servers[(rank + 1) % worldSize]!.urlFor('127.0.0.1'),
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
