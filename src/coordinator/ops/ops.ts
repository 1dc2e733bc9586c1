/**
 * Operations around a run, assembled in one place: live status, Prometheus metrics, the HTTP
 * endpoint (dashboard, /status, /metrics), the metrics.jsonl log, the best-epoch export and, on a
 * terminal, the progress bar. The run loop sees only the observers this returns.
 */
import { BestModelExport } from './best-model.js';
import { startHttp, type HttpEndpoint } from './http.js';
import { RunMetrics } from './metrics.js';
import { MetricsLog } from './metrics-log.js';
import { ProgressBar } from './progress.js';
import type { RunObserver } from '../run-events.js';
import { RunState } from './run-state.js';
import { httpKey, isLoopbackHost } from '../../shared/protocol/auth.js';
import { ReportWriter } from './report.js';
import { TensorBoardWriter } from './tensorboard.js';
import { numberFlag, optTextFlag, textFlag } from '../../shared/config/flags.js';
import { checkExposure } from '../../shared/transport/exposure.js';
import { NO_SECURITY, type SecurityConfig } from '../../shared/transport/security-config.js';
import type { Logger } from '../../shared/base/logger.js';

import { DEFAULT_HTTP_PORT } from '../../shared/config/flag-table.js';

export { DEFAULT_HTTP_PORT };

export interface OpsConfig {
  /** Address the HTTP endpoint binds to (--http-host, default loopback). */
  httpHost: string;
  /** Key every request must present (beyond loopback with a token); null: none needed. */
  httpKey: string | null;
  /** Port for the HTTP endpoint; 0 = any free port; null = no HTTP endpoint. */
  httpPort: number | null;
  /** Draw a progress bar (only sensible when stderr is a terminal). */
  progress: boolean;
  /** Seconds the HTTP endpoint stays up after the run ends (--linger; 0: closes at once). */
  lingerSeconds: number;
  /** Folder for TensorBoard event files (--tensorboard), or null. */
  tensorboard: string | null;
}

/**
 * Validates the HTTP flags: `--no-http` or `--http-port -1` turn the endpoint off; `--http-host`
 * beyond loopback needs the token (its requests then need the HTTP key) or `--insecure`.
 */
export function opsConfig(raw: Record<string, unknown>, isTTY: boolean, security: SecurityConfig = NO_SECURITY): OpsConfig {
  const port = numberFlag(raw, 'httpPort');
  const host = textFlag(raw, 'httpHost');
  checkExposure('--http-host', host, security.token, security.insecure);
  const linger = numberFlag(raw, 'linger');
  const tb = optTextFlag(raw, 'tensorboard');
  return {
    lingerSeconds: linger,
    tensorboard: tb,
    httpHost: host,
    httpKey: security.token !== null && !isLoopbackHost(host) ? httpKey(security.token) : null,
    httpPort: raw['http'] === false || port === -1 ? null : port,
    progress: isTTY && raw['logLevel'] !== 'silent',
  };
}

export interface Ops {
  observers: RunObserver[];
  state: RunState;
  http: HttpEndpoint | null;
  close(): Promise<void>;
}

export async function startOps(cfg: OpsConfig, log: Logger): Promise<Ops> {
  const state = new RunState();
  const metrics = new RunMetrics(state);
  // The report reads `state`, so it comes after it.
  const observers: RunObserver[] = [state, metrics, new MetricsLog(), new BestModelExport(log), new ReportWriter(state)];
  if (cfg.tensorboard !== null) observers.push(new TensorBoardWriter(cfg.tensorboard, state));
  if (cfg.progress) observers.push(new ProgressBar(state));
  let http: HttpEndpoint | null = null;
  if (cfg.httpPort !== null) {
    try {
      http = await startHttp(cfg.httpHost, cfg.httpPort, state, metrics, log, cfg.httpKey);
    } catch (err) {
      // Two coordinators on one host both defaulting to 7071 must not stop a run over a dashboard;
      // a port the user chose is still an error.
      if (cfg.httpPort !== DEFAULT_HTTP_PORT) throw err;
      log.warn({ port: DEFAULT_HTTP_PORT, err: err instanceof Error ? err.message : String(err) }, 'default HTTP port taken; serving on a free port instead');
      http = await startHttp(cfg.httpHost, 0, state, metrics, log, cfg.httpKey);
    }
  }
  // The key is read-only access to this run's figures; the operator needs it to open the page.
  if (http) log.info({ url: http.url, metrics: `${http.url}metrics`, status: `${http.url}status`, ...(cfg.httpKey === null ? {} : { login: `${http.url}?key=${cfg.httpKey}` }) }, 'dashboard');
  const close = async (): Promise<void> => {
    if (http && cfg.lingerSeconds > 0) await linger(http.url, cfg.lingerSeconds, log);
    await http?.close();
  };
  return { observers, state, http, close };
}

/** Keeps the dashboard up after the run for `seconds`, or until Ctrl-C. */
async function linger(url: string, seconds: number, log: Logger): Promise<void> {
  log.info({ url, seconds }, 'run ended; the dashboard stays up (Ctrl-C to leave now)');
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', done);
      resolve();
    };
    const timer = setTimeout(done, seconds * 1000);
    process.on('SIGINT', done);
  });
}
