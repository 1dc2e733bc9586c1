/**
 * Rate limiting for repeated log lines: a stranger flooding a port must not flood the log too (one
 * warn line per refused socket once wrote tens of megabytes a minute). A line is let through once
 * per source and interval, carrying how many of its kind were held back since the last one.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(private readonly intervalMs = 10_000, private readonly maxSources = 1024) {}

  /** Whether to log now for `source`, and how many lines were held back since the last one. */
  admit(source: string, now = Date.now()): { log: boolean; held: number } {
    const e = this.last.get(source);
    if (e && now - e.at < this.intervalMs) {
      e.held++;
      return { log: false, held: e.held };
    }
    const held = e?.held ?? 0;
    this.last.delete(source);
    // Bounded: the oldest source is forgotten first (it then logs again at once, which is fine).
    if (this.last.size >= this.maxSources) this.last.delete(this.last.keys().next().value!);
    this.last.set(source, { at: now, held: 0 });
    return { log: true, held };
  }
}

/** The address a socket came from, without the IPv4-mapped prefix; 'local' for a Unix socket. */
export function sourceOf(remoteAddress: string | undefined): string {
  return remoteAddress ? remoteAddress.replace(/^::ffff:/, '') : 'local';
}
