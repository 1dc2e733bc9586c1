/**
 * The dashboard's data shaping and page assembly, without a browser: smoothing, series alignment,
 * y ranges that follow the data, and a page that inlines its chart library, fetches nothing from
 * elsewhere and embeds a report's status so that no host name can break out of its script.
 */
import { describe, expect, it } from 'vitest';
import { alignSeries, formatDuration, smoothSeries, yRange } from '../../src/coordinator/ops/chart-data.js';
import { dashboardHtml, scriptJson } from '../../src/coordinator/ops/dashboard-page.js';
import { RunState } from '../../src/coordinator/ops/run-state.js';

describe('chart data', () => {
  it('smooths with a debiased moving average, skipping non-finite values', () => {
    expect(smoothSeries([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const s = smoothSeries([4, null, 4, NaN, 4], 0.9);
    // A constant series stays constant however strong the smoothing (debiased from the start).
    expect(s.filter((v) => v !== null).map((v) => Number(v!.toFixed(12)))).toEqual([4, 4, 4]);
    expect(s[1]).toBeNull();
    expect(s[3]).toBeNull();
    const step = smoothSeries([0, 0, 10, 10], 0.5);
    expect(step[2]!).toBeGreaterThan(0);
    expect(step[2]!).toBeLessThan(10);
  });

  it('aligns series on the union of their steps', () => {
    const a = alignSeries([[[0, 1], [2, 3]], [[2, 9], [5, 7]]]);
    expect(a.x).toEqual([0, 2, 5]);
    expect(a.ys).toEqual([[1, 3, null], [null, 9, 7]]);
  });

  it('ranges y over the data (not a fixed 0-1), within bounds, positive only on a log scale', () => {
    const [lo, hi] = yRange([0.971, 0.974], false, [0, 1])!;
    expect(lo).toBeGreaterThan(0.96);
    expect(hi).toBeLessThan(0.98);
    expect(yRange([0.2, 0.99], false, [0, 1])![1]).toBe(1);
    expect(yRange([null, NaN], false, null)).toBeNull();
    const [llo, lhi] = yRange([-1, 0, 0.01, 100], true, null)!;
    expect(llo).toBeCloseTo(0.01 / 1.2, 9);
    expect(lhi).toBeCloseTo(120, 9);
    expect(yRange([2, 2], false, null)).toEqual([1.9, 2.1]);
  });

  it('formats durations', () => {
    expect(formatDuration(4.25)).toBe('4.3 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(7800)).toBe('2 h 10 min');
    expect(formatDuration(null)).toBe('–');
  });
});

describe('dashboard page', () => {
  it('inlines uPlot and loads nothing from elsewhere', () => {
    const html = dashboardHtml();
    expect(html).toContain('uPlot');
    expect(html.length).toBeGreaterThan(40_000);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(\s*['"]?https?:/i);
    expect(html).not.toContain('<script type="application/json" id="embedded-status">');
  });

  it('embeds a report status that cannot close its script element', () => {
    const state = new RunState();
    state.onStart({
      job: 'evil', generation: 1, epochs: 1, stepsPerEpoch: 1, totalSteps: 1, output: '/tmp/o',
      hyper: { job: 'evil', seed: 1, epochs: 1, batchSize: 8, accumulate: 1, lr: 0.01, workers: 1, compress: 'none' },
      workers: [{ rank: 0, host: '</script><script>alert(1)</script>', pid: 1, engine: 'cpu' }],
    });
    const html = dashboardHtml(state.snapshot());
    const m = html.match(/<script type="application\/json" id="embedded-status">([\s\S]*?)<\/script>/);
    expect(m).not.toBeNull();
    const parsed = JSON.parse(m![1]!) as { workers: { host: string }[]; hyper: { lr: number } };
    expect(parsed.workers[0]!.host).toBe('</script><script>alert(1)</script>');
    expect(parsed.hyper.lr).toBe(0.01);
    expect(scriptJson('a</b>\u2028')).toBe('"a\\u003c/b>\\u2028"');
  });
});
