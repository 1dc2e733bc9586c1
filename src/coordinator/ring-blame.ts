/**
 * Whom to drop when the ring breaks. Ranks report `ring-failed`, each naming the peer of the link
 * that failed under it when one did; the coordinator collects them for a short grace period
 * (Defaults.rootCauseGraceMs) and then decides by one rule, in this order:
 *
 *   1. a rank whose control socket closed (or whose heartbeats stopped) in that time is lost:
 *      only those go, as for any lost worker;
 *   2. otherwise the ranks that two or more distinct reporters name are dropped: a rank that
 *      fails first closes its other links, so its other neighbours name it as well;
 *   3. otherwise, when the reports name exactly one link (one unordered pair of ranks: the two
 *      ends of a cut path, each naming the other), the higher rank of that pair is dropped;
 *   4. otherwise nobody is dropped: the generation ends and the next one forms with everyone.
 *
 * Dropping either end of a cut link heals the ring; the higher rank is chosen because rank 0
 * carries the checkpoints and because the choice must not depend on arrival order. Decisions
 * only: the run loop logs and acts.
 */
import type { RingPeer } from '../shared/protocol/protocol.js';

/** One rank's ring-failed report: who reported, and the peer it names (if any). */
export interface RingReport {
  rank: number;
  peer: RingPeer | null;
}

/** What to do about a broken ring. */
export interface RingVerdict {
  /** Ranks to drop (may be empty), ascending. */
  drop: number[];
  /** Which step of the rule decided, for the log. */
  how: 'socket closed' | 'named by two or more' | 'higher rank of the one broken link' | 'none stands out';
}

/**
 * `reports`: the ring-failed reports of this generation (one per rank; later ones from the same
 * rank are ignored). `closed`: ranks whose control connection was lost during the grace period.
 */
export function decideRingFailure(reports: readonly RingReport[], closed: readonly number[]): RingVerdict {
  if (closed.length > 0) return { drop: [...new Set(closed)].sort((a, b) => a - b), how: 'socket closed' };
  const seen = new Set<number>();
  const namedBy = new Map<number, Set<number>>();
  const links = new Set<string>();
  const named = new Set<string>();
  for (const r of reports) {
    if (seen.has(r.rank)) continue;
    seen.add(r.rank);
    if (r.peer === null || r.peer.rank === r.rank) continue;
    const by = namedBy.get(r.peer.rank) ?? new Set<number>();
    by.add(r.rank);
    namedBy.set(r.peer.rank, by);
    links.add(`${Math.min(r.rank, r.peer.rank)}-${Math.max(r.rank, r.peer.rank)}`);
    named.add(`${r.rank}->${r.peer.rank}`);
  }
  const twice = [...namedBy].flatMap(([rank, by]) => (by.size >= 2 ? [rank] : [])).sort((a, b) => a - b);
  if (twice.length > 0) return { drop: twice, how: 'named by two or more' };
  if (links.size === 1) {
    const [a, b] = [...links][0]!.split('-').map(Number) as [number, number];
    // Only a link both ends report is known broken; one report alone may be a neighbour's echo
    // of another rank's failure (a failing rank closes all its links).
    if (!named.has(`${a}->${b}`) || !named.has(`${b}->${a}`)) return { drop: [], how: 'none stands out' };
    return { drop: [Math.max(a, b)], how: 'higher rank of the one broken link' };
  }
  return { drop: [], how: 'none stands out' };
}

/**
 * One ring failure being decided: the first report opens a grace period during which the other
 * ranks' reports and any losses are collected. It closes early once a rank is lost (its loss
 * explains the rest) or every rank has reported.
 */
export class RingFailureRound {
  private readonly reports: RingReport[];
  private readonly lost = new Map<number, string>();
  readonly deadline: number;

  constructor(first: RingReport, private readonly worldSize: number, now: number, graceMs: number) {
    this.reports = [first];
    this.deadline = now + graceMs;
  }

  /** Still collecting at `now`. */
  collecting(now: number): boolean {
    return now < this.deadline && this.lost.size === 0 && new Set(this.reports.map((r) => r.rank)).size < this.worldSize;
  }

  onLost(rank: number, reason: string): void {
    this.lost.set(rank, reason);
  }

  onReport(report: RingReport): void {
    this.reports.push(report);
  }

  /**
   * The verdict, the reports as `from->to (link)` for the log, and why the generation ends
   * (`reported`: the first report's text; `describe(r)`: rank r's host and pid).
   */
  decide(reported: string, describe: (rank: number) => string): { verdict: RingVerdict; named: string[]; lost: number[]; evict: number[]; why: string } {
    const lost = [...this.lost.keys()];
    const verdict = decideRingFailure(this.reports, lost);
    const named = this.reports.map((r) => (r.peer ? `${r.rank}->${r.peer.rank} (${r.peer.link})` : `${r.rank}->?`));
    const evict = verdict.drop.filter((r) => !this.lost.has(r));
    const why = this.lost.size > 0 ? `${[...this.lost].map(([r, w]) => `rank ${r} (${describe(r)}) was lost: ${w}`).join('; ')}; ${reported}`
      : verdict.drop.length === 0 ? `${reported} (reports ${named.join(', ')}: ${verdict.how}; nobody dropped)`
      : `rank(s) ${verdict.drop.map((r) => `${r} (${describe(r)})`).join(', ')} dropped by ${verdict.how} (reports ${named.join(', ')}); ${reported}`;
    return { verdict, named, lost, evict, why };
  }
}
