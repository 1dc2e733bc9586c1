/**
 * A port squatter: a WebSocket server on the coordinator's port while the coordinator is down,
 * that does not know the token and tries to talk its workers into exiting. It cycles through
 * four tricks, one per connection: an `error` straight away, a challenge then an `error`, a
 * challenge then a `welcome` with a wrong proof, and HTTP 426 (what a TLS endpoint answers plain
 * ws://) instead of the upgrade.
 */
import { WebSocketServer } from 'ws';
import { encodeMessage } from '../../src/shared/protocol/codec.js';
import { newNonce } from '../../src/shared/protocol/auth.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';

export interface Squatter {
  /** Connections answered with each trick, in the order above. */
  tricks: [number, number, number, number];
  close(): Promise<void>;
}

export async function squat(port: number): Promise<Squatter> {
  let n = 0;
  const tricks: [number, number, number, number] = [0, 0, 0, 0];
  const wss = new WebSocketServer({
    host: '127.0.0.1', port,
    verifyClient: (_info, cb) => {
      if (n % 4 !== 3) return cb(true);
      n++;
      tricks[3]++;
      cb(false, 426, 'Upgrade Required');
    },
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => resolve());
    wss.once('error', reject);
  });
  const goAway = encodeMessage({ type: 'error', code: 'RT_AUTH_FAILED', message: 'squatter says go away' });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    const trick = n++ % 4;
    tricks[trick as 0 | 1 | 2]++;
    if (trick === 0) {
      ws.send(goAway);
      return;
    }
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: newNonce(), auth: true }));
    ws.on('message', () => ws.send(trick === 1 ? goAway : encodeMessage({ type: 'welcome', proof: Buffer.alloc(32, 7) })));
  });
  return {
    tricks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
