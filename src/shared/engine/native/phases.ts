/**
 * Progress of a long command as named phases on stderr: on a terminal one line that counts the
 * seconds of the running phase (a build or a 270 MB download can take minutes), otherwise one
 * plain line per finished phase, so logs stay readable.
 */
export interface Phases {
  run<T>(label: string, body: () => Promise<T>): Promise<T>;
}

/** Phases written to `out` (a TTY gets the live line), or none when `quiet`. */
export function phases(out: NodeJS.WriteStream, quiet = false): Phases {
  const tty = out.isTTY === true;
  return {
    async run<T>(label: string, body: () => Promise<T>): Promise<T> {
      if (quiet) return body();
      const t0 = Date.now();
      const secs = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      const timer = tty ? setInterval(() => out.write(`\r\x1b[2K… ${label} ${secs()}`), 250) : null;
      try {
        const r = await body();
        if (tty) out.write('\r\x1b[2K');
        out.write(`✓ ${label} (${secs()})\n`);
        return r;
      } catch (err) {
        if (tty) out.write('\r\x1b[2K');
        out.write(`✗ ${label} (${secs()})\n`);
        throw err;
      } finally {
        if (timer) clearInterval(timer);
      }
    },
  };
}
