/**
 * Rendezvous, apart from the data path: waits until `minWorkers` workers have said hello, then
 * fixes a generation with ranks in arrival order. It returns only membership; the ring needs
 * nothing else (each rank is told its successor's address by the run loop).
 */
import { PROTOCOL_VERSION } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import type { HelloMsg } from '../shared/protocol.js';
import type { Logger } from '../shared/logger.js';
import type { ControlServer, WorkerConn } from './server.js';

export interface Member {
  rank: number;
  conn: WorkerConn;
  hello: HelloMsg;
}

export async function rendezvous(server: ControlServer, minWorkers: number, timeoutMs: number, log: Logger): Promise<Member[]> {
  const deadline = Date.now() + timeoutMs;
  const waiting: { conn: WorkerConn; hello: HelloMsg }[] = [];
  log.info({ minWorkers }, 'waiting for workers');
  while (waiting.length < minWorkers) {
    let ev;
    try {
      ev = await server.events.take(Math.max(1, deadline - Date.now()), 'workers');
    } catch (err) {
      if (err instanceof RingtrainError && err.code === ErrorCodes.TIMEOUT) {
        throw new RingtrainError(ErrorCodes.TIMEOUT, `rendezvous timed out after ${timeoutMs} ms with ${waiting.length} of ${minWorkers} workers; start more workers or lower --min-workers`);
      }
      throw err;
    }
    if (ev.kind === 'closed') {
      const i = waiting.findIndex((w) => w.conn === ev.conn);
      if (i >= 0) {
        waiting.splice(i, 1);
        log.warn({ conn: ev.conn.id, reason: ev.reason }, 'worker left before rendezvous completed');
      }
      continue;
    }
    const { conn, msg } = ev;
    if (msg.type !== 'hello') {
      log.warn({ conn: conn.id, type: msg.type }, 'message before rendezvous dropped');
      continue;
    }
    if (msg.protocol !== PROTOCOL_VERSION) {
      log.warn({ conn: conn.id, theirs: msg.protocol, ours: PROTOCOL_VERSION }, 'protocol version mismatch');
      conn.reject(ErrorCodes.VERSION_MISMATCH, `worker speaks protocol ${msg.protocol}, coordinator speaks ${PROTOCOL_VERSION}; run the same ringtrain version everywhere`);
      continue;
    }
    waiting.push({ conn, hello: msg });
    log.info({ conn: conn.id, host: msg.host, pid: msg.pid, ring: msg.ringUrl, have: waiting.length, need: minWorkers }, 'worker joined');
  }
  return waiting.map((w, rank) => ({ rank, conn: w.conn, hello: w.hello }));
}
