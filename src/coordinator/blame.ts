/**
 * Who stalled a step. When some ranks reported it, the others are the culprits. When none did
 * (every rank is blocked in the all-reduce behind one that stopped), the culprit is the rank whose
 * last sign of life (a message, or a pong to the heartbeat) is clearly older than everyone
 * else's; if none stands out (all went quiet together: the coordinator itself was frozen, or
 * the network), nobody is blamed, and the generation ends without evicting an innocent rank.
 */

export interface Blame {
  /** Ranks to evict (may be empty). */
  culprits: number[];
  /** How they were found, for the log and the error message. */
  how: 'missing reports' | 'oldest sign of life' | 'none stands out';
}

/**
 * `missing`: ranks that have not reported the stalled step when some have, else null.
 * `lastSign[r]`: when rank r was last heard from (ms). `slackMs`: differences below this are
 * noise (one heartbeat interval: a healthy rank answers a ping at most that late).
 */
export function blameStall(missing: readonly number[] | null, lastSign: readonly number[], slackMs: number): Blame {
  if (missing && missing.length > 0 && missing.length < lastSign.length) return { culprits: [...missing], how: 'missing reports' };
  if (lastSign.length === 0) return { culprits: [], how: 'none stands out' };
  const newest = Math.max(...lastSign);
  const culprits = lastSign.flatMap((t, r) => (newest - t > slackMs ? [r] : []));
  return culprits.length > 0 ? { culprits, how: 'oldest sign of life' } : { culprits: [], how: 'none stands out' };
}
