/**
 * The dashboard's data shaping, as plain functions: tested here in Node, and inlined into the page
 * by their source text (dashboard-page.ts), so each must stay self-contained (no imports, no
 * closures over module state).
 */

/**
 * TensorBoard-style smoothing: an exponential moving average with weight `w` in [0, 1), debiased
 * so the first points are not pulled towards 0. Non-finite values stay null and do not count.
 */
export function smoothSeries(values: readonly (number | null)[], w: number): (number | null)[] {
  let ema = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    ema = w * ema + (1 - w) * v;
    n += 1;
    return w > 0 ? ema / (1 - Math.pow(w, n)) : v;
  });
}

/**
 * Several [x, y] series on one x axis, as uPlot takes them: the sorted union of their x values,
 * and per series its y at each x (null where it has none). A non-finite y is null too.
 */
export function alignSeries(series: readonly (readonly [number, number][])[]): { x: number[]; ys: (number | null)[][] } {
  const xs = new Set<number>();
  for (const s of series) for (const p of s) xs.add(p[0]);
  const x = Array.from(xs).sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const ys = series.map((s) => {
    const col: (number | null)[] = x.map(() => null);
    for (const p of s) col[at.get(p[0])!] = Number.isFinite(p[1]) ? p[1] : null;
    return col;
  });
  return { x, ys };
}

/**
 * The y range of a chart: the data's own range with 10% room (never a fixed 0–1, so 97.1% vs
 * 97.4% accuracy is visible), kept within `bounds` when given; a flat series gets room around it.
 * With `log`, only positive values count, and the range is a factor-based margin.
 */
export function yRange(values: readonly (number | null)[], log: boolean, bounds: [number, number] | null): [number, number] | null {
  const good = values.filter((v): v is number => v !== null && Number.isFinite(v) && (!log || v > 0));
  if (good.length === 0) return null;
  let lo = Math.min(...good);
  let hi = Math.max(...good);
  if (log) return [lo / 1.2, hi * 1.2];
  const pad = hi > lo ? (hi - lo) * 0.1 : Math.max(Math.abs(hi) * 0.05, 1e-3);
  lo -= pad;
  hi += pad;
  if (bounds) {
    lo = Math.max(bounds[0], lo);
    hi = Math.min(bounds[1], hi);
  }
  return [lo, hi];
}

/** Seconds as a person reads them: 42 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, seconds);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
