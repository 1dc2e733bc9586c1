/**
 * The live dashboard and /metrics during a real run: a headless Chromium (from the dev dependency
 * @sparticuz/chromium, unpacked by tests/setup/chromium.ts; driven by playwright-core) must see a loss curve with at least two points and one row per worker while
 * training is still going, and /metrics must parse as Prometheus text with counters that move.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startLiveRun, type LiveRun } from '../helpers/live-run.js';
import { summaryOf } from '../helpers/cli.js';

const WORKERS = 3;
const BROWSER = inject('chromium');
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
// The run must end cleanly, however long a loaded machine makes its 8 epochs (30 s when idle).
const RUN_LIMIT_MS = 600_000;

interface PromFamily {
  name: string;
  type: string;
  metrics: { value?: string; count?: string; labels?: Record<string, string> }[];
}

async function scrape(url: string): Promise<Map<string, PromFamily>> {
  // Generous: a loaded machine can keep the coordinator from answering for seconds.
  const res = await fetch(`${url}metrics`, { signal: AbortSignal.timeout(30_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text()) as PromFamily[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(m: Map<string, PromFamily>, name: string): number {
  const f = m.get(name);
  if (!f) throw new Error(`metric ${name} missing`);
  const first = f.metrics[0]!;
  return Number(first.value ?? first.count);
}

describe('live dashboard and metrics', () => {
  let dir: string;
  let run: LiveRun;
  let url: string;
  let browser: BrowserContext | null = null;
  let userData: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rt-dash-'));
    userData = mkdtempSync(join(tmpdir(), 'rt-chromium-'));
    // Enough epochs that the run outlives the browser's start on a busy 2-core machine.
    run = startLiveRun(['local', '--workers', String(WORKERS), '--job', 'mnist-mlp', '--epochs', '8', '--json', '--http', '--http-port', '0', '--output', join(dir, 'out')], { timeoutMs: RUN_LIMIT_MS });
    url = await run.url;
  });

  afterAll(async () => {
    await browser?.close();
    await run?.done.catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(userData, { recursive: true, force: true });
  });

  it('/metrics parses as Prometheus text and its counters move during the run', async () => {
    // Waits for progress, not for a time: the steps counter passes `after`.
    const poll = async (after: number): Promise<Map<string, PromFamily>> => {
      const deadline = Date.now() + 150_000;
      while (Date.now() < deadline) {
        const m = await scrape(url);
        if (value(m, 'ringtrain_steps_total') > after) return m;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`ringtrain_steps_total did not pass ${after} within 150 s`);
    };
    const a = await poll(0);
    const b = await poll(value(a, 'ringtrain_steps_total'));
    for (const name of ['ringtrain_step_seconds', 'ringtrain_allreduce_seconds']) expect(b.get(name)?.type).toBe('HISTOGRAM');
    for (const name of ['ringtrain_steps_total', 'ringtrain_samples_total', 'ringtrain_restarts_total', 'ringtrain_nonfinite_skips_total']) expect(b.get(name)?.type).toBe('COUNTER');
    expect(value(b, 'ringtrain_steps_total')).toBeGreaterThan(value(a, 'ringtrain_steps_total'));
    expect(value(b, 'ringtrain_samples_total')).toBeGreaterThan(value(a, 'ringtrain_samples_total'));
    expect(value(b, 'ringtrain_step_seconds')).toBeGreaterThan(value(a, 'ringtrain_step_seconds'));
    expect(value(b, 'ringtrain_workers')).toBe(WORKERS);
    expect(value(b, 'ringtrain_generation')).toBe(1);
    expect(value(b, 'ringtrain_samples_per_second')).toBeGreaterThan(0);
    expect(value(b, 'ringtrain_restarts_total')).toBe(0);
  }, RUN_LIMIT_MS);

  it('shows a live loss curve and one row per worker in headless Chromium', async () => {
    if ('error' in BROWSER) throw new Error(`no browser for the dashboard test: ${BROWSER.error}`);
    // A fresh profile per run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(userData, {
      executablePath: BROWSER.executablePath,
      env: { ...process.env, ...BROWSER.env } as Record<string, string>,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1000, height: 720 },
      timeout: 60_000,
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(url, { timeout: 30_000 });
    // After the first epoch, so the screenshot also shows test loss and accuracy points.
    await page.waitForFunction(() => Number(document.querySelector('#accuracy-chart')?.getAttribute('data-points')) >= 1, undefined, { timeout: 60_000 });
    const chart = await page.$eval('#loss-chart', (el) => ({ train: Number(el.getAttribute('data-train-points')), series: el.getAttribute('data-series'), canvases: el.querySelectorAll('canvas').length }));
    const title = await page.textContent('#title');
    const lr = await page.$eval('#hyper tr[data-key="lr"] td:last-child', (td) => td.textContent);
    const rows = await page.$$eval('#workers tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    const state = await page.textContent('#state');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(state).toBe('training');
    // uPlot drew the curve (a canvas), titled by the job's name, with no validation legend for a
    // job without a validation split, and the run's hyper-parameters beside it.
    expect(chart.train).toBeGreaterThanOrEqual(2);
    expect(chart.canvases).toBeGreaterThanOrEqual(1);
    expect(chart.series).toBe('train,train (smoothed),test');
    expect(title).toBe('mnist-mlp');
    expect(lr).toBe('0.001');
    expect(rows.map((r) => r[0])).toEqual(Array.from({ length: WORKERS }, (_, i) => String(i)));
    for (const r of rows) {
      expect(r[1]).not.toBe('');
      expect(r[3]).toMatch(/^(wasm|cpu|tensorflow|webgpu)$/);
      expect(Number(r[4])).toBeGreaterThan(0);
    }
    // The run itself still has to finish cleanly with the page attached.
    const summary = summaryOf(await run.done);
    expect(summary['workers']).toBe(WORKERS);
    // The same page, with the final status embedded, stays in the output folder: open it from disk.
    const report = await browser.newPage();
    const fetched: string[] = [];
    report.on('request', (r) => fetched.push(r.url()));
    await report.goto(pathToFileURL(join(dir, 'out', 'report.html')).href);
    await report.waitForFunction(() => document.querySelector('#state')?.textContent === 'done', undefined, { timeout: 10_000 });
    expect(await report.$eval('#accuracy-chart', (el) => Number(el.getAttribute('data-points')))).toBe(8);
    expect(await report.$$eval('#workers tbody tr', (trs) => trs.length)).toBe(WORKERS);
    expect(fetched.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await report.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
  }, RUN_LIMIT_MS);
});
