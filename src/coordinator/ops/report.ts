/**
 * `report.html` in the run's output folder: the dashboard page with the run's final status
 * embedded (charts, hyper-parameters, per-worker table), readable long after the coordinator has
 * gone, from a file, with nothing fetched. Written when the run ends, failed runs included.
 */
import { join } from 'node:path';
import { dashboardHtml } from './dashboard-page.js';
import { saveText } from '../output.js';
import type { RunObserver, RunStartEvent } from '../run-events.js';
import type { RunState } from './run-state.js';

export const REPORT_FILE = 'report.html';

export class ReportWriter implements RunObserver {
  readonly name = 'report';
  private output: string | null = null;

  /** `state` must be an observer ahead of this one, so it already holds the end when onEnd runs. */
  constructor(private readonly state: RunState) {}

  onStart(e: RunStartEvent): void {
    this.output ??= e.output;
  }

  async onEnd(): Promise<void> {
    if (this.output === null || this.output === '') return;
    await saveText(join(this.output, REPORT_FILE), dashboardHtml(this.state.snapshot()));
  }
}
